//! `teamsapps package`: builds a Teams app package (zip) from a manifest, with the icons it
//! names taken from beside the manifest or generated at the required sizes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// The manifest.json to package.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Override the manifest's version (e.g. to build 1.1.0 from the same manifest).
    #[arg(long)]
    pub version: Option<String>,
    /// Override the manifest's id (a GUID): the same manifest as another app, e.g. to publish
    /// it again where the catalog already holds it (a tenant's catalog refuses a second app
    /// with one manifest id).
    #[arg(long, value_parser = parse_guid)]
    pub id: Option<String>,
    /// Where to write the zip; `-` writes to stdout.
    #[arg(long, default_value = "app.zip")]
    pub out: PathBuf,
}

fn parse_guid(s: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("'{s}' is not a GUID (e.g. 3f2504e0-4f89-41d3-9a0c-0305e82c3301)"))
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A valid RGBA PNG of one colour (zlib with stored blocks: no compression library needed).
pub fn png(size: u32, rgba: [u8; 4]) -> Vec<u8> {
    // Each scanline: filter byte 0 (none), then the pixels.
    let mut line = vec![0u8];
    for _ in 0..size {
        line.extend_from_slice(&rgba);
    }
    let raw: Vec<u8> = line.iter().copied().cycle().take(line.len() * size as usize).collect();
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn icon(
    dir: &Path,
    manifest: &serde_json::Value,
    key: &str,
    size: u32,
    rgba: [u8; 4],
) -> (String, Vec<u8>) {
    let name = manifest["icons"][key].as_str().unwrap_or(if key == "color" {
        "color.png"
    } else {
        "outline.png"
    });
    let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|_| png(size, rgba));
    (name.to_string(), bytes)
}

pub fn run(args: PackageArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.manifest)
        .with_context(|| format!("cannot read {}", args.manifest.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .with_context(|| format!("{} is not valid JSON", args.manifest.display()))?;
    if !manifest.is_object() {
        bail!("{} must hold a JSON object", args.manifest.display());
    }
    if let Some(id) = &args.id {
        manifest["id"] = serde_json::Value::String(id.clone());
    }
    if let Some(v) = &args.version {
        manifest["version"] = serde_json::Value::String(v.clone());
    }
    let dir = args.manifest.parent().unwrap_or(Path::new("."));
    let color = icon(dir, &manifest, "color", 192, [0x46, 0x4E, 0xB8, 0xFF]);
    let outline = icon(dir, &manifest, "outline", 32, [0xFF, 0xFF, 0xFF, 0x00]);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("manifest.json", opts)?;
    zip.write_all(serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    for (name, bytes) in [color, outline] {
        zip.start_file(name, opts)?;
        zip.write_all(&bytes)?;
    }
    let bytes = zip.finish()?.into_inner();
    // Check with the server's own validator, so a bad package fails here, not at upload.
    if let Err(e) = teamsapps_core::manifest::parse_package(&bytes) {
        bail!("the package would be refused: {e:?}");
    }
    if args.out.as_os_str() == "-" {
        std::io::stdout().write_all(&bytes)?;
    } else {
        std::fs::write(&args.out, &bytes)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_version_overrides_reach_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/apps/hello/manifest.json");
        let out = dir.path().join("hello.zip");
        let id = parse_guid("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap();
        run(PackageArgs {
            manifest,
            version: Some("1.2.3".into()),
            id: Some(id.clone()),
            out: out.clone(),
        })
        .unwrap();
        let package = teamsapps_core::manifest::parse_package(&std::fs::read(&out).unwrap())
            .expect("a valid package");
        assert_eq!(package.manifest_id, "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
        assert_eq!(package.version, "1.2.3");
        assert!(parse_guid("hello").unwrap_err().contains("not a GUID"));
    }

    #[test]
    fn generated_icons_have_the_required_sizes() {
        for size in [32, 192] {
            let png = super::png(size, [1, 2, 3, 4]);
            assert_eq!(teamsapps_core::manifest::png_dimensions(&png), Some((size, size)));
        }
    }
}
