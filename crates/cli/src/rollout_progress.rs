//! What `teamsapps rollout run` and `resume` show while they upgrade. On a terminal (text logs):
//! a progress bar redrawn in place with the targets answered of all, the rate and the time left
//! (indicatif's estimate over the last seconds), the failures so far and the requests in flight
//! at most (the adaptive concurrency). Elsewhere (a file, a pipe, `--log-format json`): the
//! engine's progress line every 5 s, as a plain line or, with JSON logs, an `info` event. Either
//! way `finish` ends with that line once more, before the run's summary.
//!
//! Log lines written while the bar is shown go through `LogWriter`, which lifts the bar off the
//! screen for the line and draws it again below, so that neither garbles the other.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use teamsapps_rollout::graph::Concurrency;
use teamsapps_rollout::run::{self, Progress};

use crate::logging::{self, LogFormat};

/// The bar on screen, if any, for `LogWriter`.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);
/// The log format the process started with (`init_logging`).
static FORMAT: Mutex<LogFormat> = Mutex::new(LogFormat::Text);

fn shown() -> Option<ProgressBar> {
    SHOWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

fn set_shown(bar: Option<ProgressBar>) {
    *SHOWN.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
}

fn format() -> LogFormat {
    *FORMAT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stderr for the log subscriber of `teamsapps rollout`: while a bar is shown, each write is
/// made with the bar lifted off the screen.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match shown() {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

/// The log subscriber `logging::init` installs, writing through `LogWriter`.
pub fn init_logging(format: LogFormat) -> anyhow::Result<()> {
    *FORMAT.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = format;
    let spec = std::env::var("TEAMSAPPS_LOG").ok();
    let filter = logging::filter(spec.as_deref(), true)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(LogWriter);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(false).init(),
    }
    Ok(())
}

/// The progress display of one run; `finish` takes it down.
pub struct Display {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
    progress: Arc<Progress>,
    concurrency: Arc<Concurrency>,
    started: Instant,
}

/// `{failed} failed, {n} in flight at most`: the bar's message.
fn message(p: &Progress, concurrency: &Concurrency) -> String {
    format!(
        "{} failed, {} in flight at most",
        p.failed.load(Ordering::Relaxed),
        concurrency.current()
    )
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{elapsed:>4} [{bar:30.cyan/blue}] {pos}/{len} answered, {rate}, about {left} left, {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.1}/s", s.per_sec());
    })
    // Indicatif's ETA is 0 before the first answer; say that it is not known yet.
    .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let remaining = s.len().unwrap_or(0).saturating_sub(s.pos());
        let _ = if remaining > 0 && s.per_sec() <= 0.0 {
            write!(w, "?")
        } else {
            write!(w, "{:#}", HumanDuration(s.eta()))
        };
    })
    .progress_chars("=> ")
}

/// Starts showing `progress` (the engine fills it in; its total may still be 0 here).
pub fn start(progress: Arc<Progress>, concurrency: Arc<Concurrency>, started: Instant) -> Display {
    let bar = (format() == LogFormat::Text && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(style());
        set_shown(Some(bar.clone()));
        bar
    });
    let task = match &bar {
        Some(bar) => tokio::spawn(draw(bar.clone(), progress.clone(), concurrency.clone())),
        None => tokio::spawn(lines(progress.clone(), concurrency.clone(), started)),
    };
    Display { task, bar, progress, concurrency, started }
}

/// Keeps the bar up to date, ten times a second.
async fn draw(bar: ProgressBar, p: Arc<Progress>, concurrency: Arc<Concurrency>) {
    let mut settling = 0;
    loop {
        update(&bar, &p, &concurrency, &mut settling);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One redraw from the engine's counters. The engine sets the total and then what a resumed
/// run had already answered: the rate estimate restarts for two redraws after the total
/// changes, so that the earlier run's work does not count as speed.
fn update(bar: &ProgressBar, p: &Progress, concurrency: &Concurrency, settling: &mut u8) {
    let (total, done) =
        (p.total.load(Ordering::Relaxed) as u64, p.done.load(Ordering::Relaxed) as u64);
    if bar.length() != Some(total) {
        bar.set_length(total);
        *settling = 2;
    }
    bar.set_position(done.min(total));
    if *settling > 0 {
        bar.reset_eta();
        *settling -= 1;
    }
    bar.set_message(message(p, concurrency));
    bar.tick();
}

/// The progress line every 5 s, for files, pipes and log collectors.
async fn lines(p: Arc<Progress>, concurrency: Arc<Concurrency>, started: Instant) {
    let every = Duration::from_secs(5);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let line = run::progress_line(&p, started, concurrency.current());
        match format() {
            LogFormat::Text => eprintln!("{line}"),
            LogFormat::Json => tracing::info!("{line}"),
        }
    }
}

impl Display {
    /// Stops the display (the bar is cleared from the screen) and prints the progress line one
    /// last time, so that what follows starts on a line of its own.
    pub fn finish(mut self) {
        self.take_down();
        eprintln!(
            "{}",
            run::progress_line(&self.progress, self.started, self.concurrency.current())
        );
    }

    fn take_down(&mut self) {
        self.task.abort();
        if let Some(bar) = self.bar.take() {
            set_shown(None);
            bar.finish_and_clear();
        }
    }
}

/// A run that ends in an error clears the bar too, before the error is printed.
impl Drop for Display {
    fn drop(&mut self) {
        self.take_down();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.0.lock().unwrap().clear();
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn drawn(total: usize, done: usize, failed: usize) -> String {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(0),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style());
        let p = Progress::default();
        p.total.store(total, Ordering::Relaxed);
        p.done.store(done, Ordering::Relaxed);
        p.failed.store(failed, Ordering::Relaxed);
        update(&bar, &p, &Concurrency::new(4, 32), &mut 0);
        let text = screen.0.lock().unwrap().clone();
        // Without colours (they are there when the tests run on a terminal).
        let mut plain = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                plain.push(c);
            }
        }
        plain.trim_end().to_string()
    }

    #[test]
    fn the_bar_shows_answered_of_total_rate_time_left_failures_and_concurrency() {
        let line = drawn(10, 4, 1);
        assert!(line.contains("[============>                 ] 4/10 answered, "), "{line}");
        assert!(line.contains("4/10 answered, 0.0/s, about ? left, "), "{line}");
        assert!(line.ends_with(" left, 1 failed, 4 in flight at most"), "{line}");
    }

    #[test]
    fn a_run_with_nothing_to_upgrade_draws_a_full_bar() {
        let line = drawn(0, 0, 0);
        assert!(
            line.ends_with("[==============================] 0/0 answered, 0.0/s, about 0s left, 0 failed, 4 in flight at most"),
            "{line}"
        );
    }
}
