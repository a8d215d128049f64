// Types of the teamsapps test helper (index.js).

/** A user of a fixture tenant. */
export interface FixtureUser {
  id: string;
  userPrincipalName: string;
  displayName: string | null;
  /** The password the token endpoint's password grant accepts (null when the fixture has none). */
  password: string | null;
  roles: string[];
}

/** An app registration of a fixture tenant: the client credentials of the token endpoint. */
export interface FixtureApplication {
  appId: string;
  /** The same as appId. */
  clientId: string;
  clientSecret: string;
  displayName: string | null;
  applicationPermissions: string[];
  delegatedPermissions: string[];
}

export interface FixtureTenant {
  id: string;
  displayName: string | null;
  users: FixtureUser[];
  applications: FixtureApplication[];
  teams: { id: string; displayName: string | null }[];
  chats: { id: string; topic: string | null }[];
}

export interface StartOptions {
  /**
   * The tenant to seed: "demo" (default), "rsc" or "isolation" (bundled), the path of a JSON or
   * YAML fixture, or a fixture object ({ tenants: [...] }).
   */
  fixture?: "demo" | "rsc" | "isolation" | string | { tenants: unknown[] };
  /** More `teamsapps serve` arguments, e.g. ["--throttle", "graph"] or ["--config", "faults.yaml"]. */
  args?: string[];
  /** Environment of the server, on top of this process's. */
  env?: Record<string, string>;
  /** The key of the test controls (random by default). */
  adminKey?: string;
  /**
   * Serve HTTPS: true for a certificate made for this server (`caCert` says where), or a
   * certificate and key of your own (e.g. from `npx teamsapps cert --out certs`).
   */
  tls?: boolean | { cert: string; key: string };
  /** Keep the store in SQLite files: true for a temporary directory, or a directory. Default: in memory. */
  dataDir?: boolean | string;
  /** The teamsapps binary (default: this package's, or $TEAMSAPPS_BINARY). */
  binary?: string;
  /** How long to wait for the server to serve (default 30000). */
  startTimeoutMs?: number;
}

export interface SignIn {
  /** Client id or display name of an app registration (default: the tenant's first). */
  app?: string;
  /** Its secret (default: the fixture's). */
  secret?: string;
  /** A user (UPN or id) to sign in with the password grant; app-only (client credentials) without. */
  user?: string;
  /** The user's password (default: the fixture's). */
  password?: string;
  /** Default "https://graph.microsoft.com/.default". */
  scope?: string;
  /** A tenant id of the fixture (default: the first). */
  tenant?: string;
}

export interface Settings {
  throttle?: Record<string, unknown>;
  faults?: Record<string, unknown>;
  [key: string]: unknown;
}

/** An entry of the request log (GET /_teamsapps/requests). */
export interface LoggedRequest {
  method: string;
  path: string;
  operation?: string;
  status: number;
  [key: string]: unknown;
}

export interface Admin {
  reset(): Promise<{ reset: true; elapsedMs: number }>;
  snapshot(name: string): Promise<unknown>;
  restore(name: string): Promise<unknown>;
  /** GET; with `settings`, PUT first and answer what the server now has. */
  settings(settings?: Settings): Promise<Settings>;
  setSettings(settings: Settings): Promise<Settings>;
  requests(): Promise<LoggedRequest[]>;
  clearRequests(): Promise<null>;
  ready(): Promise<boolean>;
}

export interface PackageOptions {
  /** Overrides the manifest's id (a GUID). */
  id?: string;
  /** Overrides the manifest's version. */
  version?: string;
  binary?: string;
}

export declare class Teamsapps {
  /** e.g. "http://127.0.0.1:41234" (https:// with tls). */
  readonly baseUrl: string;
  /** baseUrl + "/v1.0". */
  readonly graphUrl: string;
  /** The authorityHost for @azure/identity (the base URL; set disableInstanceDiscovery too). */
  readonly authorityHost: string;
  /** The first tenant of the fixture. */
  readonly tenantId: string;
  /** Its token endpoint. */
  readonly tokenUrl: string;
  readonly tenants: FixtureTenant[];
  /** Users, app registrations, teams and chats of the first tenant. */
  readonly users: FixtureUser[];
  readonly applications: FixtureApplication[];
  readonly teams: FixtureTenant["teams"];
  readonly chats: FixtureTenant["chats"];
  readonly adminKey: string;
  readonly admin: Admin;
  readonly fixturePath: string;
  /** The server's stdout and stderr. */
  readonly logPath: string;
  /** The certificate to trust with tls (null without). */
  readonly caCert: string | null;
  readonly pid: number;
  readonly binary: string;
  /** Milliseconds from spawn to ready. */
  readonly startMs: number;

  /** The first app registration's credentials. */
  readonly clientId: string;
  readonly clientSecret: string;
  /** TEAMSAPPS_URL, TEAMSAPPS_ADMIN_KEY, TEAMSAPPS_TENANT_ID (and NODE_EXTRA_CA_CERTS with tls), for child processes. */
  readonly env: Record<string, string>;

  tenant(id?: string): FixtureTenant;
  application(app?: string, tenant?: string): FixtureApplication;
  /** The same as application(). */
  app(app?: string, tenant?: string): FixtureApplication;
  /** A plain HTTP request with a token (yours, or one token() gets for app/user/tenant). */
  request(
    method: string,
    path: string,
    options?: Pick<SignIn, "app" | "user" | "tenant"> & {
      token?: string;
      json?: unknown;
      body?: Buffer | string;
      contentType?: string;
      headers?: Record<string, string>;
    },
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; json(): any }>;
  user(user: string, tenant?: string): FixtureUser;
  /** Back to the seed state (admin.reset()). */
  reset(): Promise<{ reset: true; elapsedMs: number }>;
  /** An access token from the server's own token endpoint. */
  token(signIn?: SignIn): Promise<string>;
  /**
   * A Client of @microsoft/microsoft-graph-client (which must be installed) signed in as `signIn`
   * says. Typed `any` so these types need no Graph client; annotate it with its `Client` type.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  graphClient(options?: SignIn & { version?: "v1.0" | "beta" }): any;
  /** An app package (zip) made by `teamsapps package` (by default the "Hello" app with a fresh id). */
  appPackage(manifest?: object | string, options?: PackageOptions): Promise<Buffer>;
  /** Kills the server and removes its temporary files. */
  stop(): Promise<void>;
}

export declare function startTeamsapps(options?: StartOptions): Promise<Teamsapps>;
export declare function appPackage(manifest?: object | string, options?: PackageOptions): Promise<Buffer>;
/** The manifest of a small "Hello" app (a fresh id unless given). */
export declare function helloManifest(id?: string, version?: string): Record<string, unknown>;
/** The teamsapps binary of this platform. */
export declare function binaryPath(): string;
export declare const GRAPH_SCOPE: string;
