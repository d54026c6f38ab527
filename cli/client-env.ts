/**
 * The environment variables the CLI's client commands read (service commands read theirs through
 * each service's config reader). One table, so every command names the same variable for the same
 * setting and `propeller help` can list them; a flag always wins over its variable.
 */
export const CLIENT_ENV = {
  managerUrl: "PROPELLER_MANAGER_URL",
  token: "PROPELLER_TOKEN",
  kbsUrl: "PROPELLER_KBS_URL",
  kbsAdminToken: "PROPELLER_KBS_ADMIN_TOKEN",
  kbsAdminKey: "PROPELLER_KBS_ADMIN_KEY",
  certsDir: "PROPELLER_CERTS_DIR",
  stateDir: "PROPELLER_STATE_DIR",
} as const;

export type ClientSettings = { -readonly [K in keyof typeof CLIENT_ENV]?: string };

/** The client settings the environment gives (empty strings count as unset). */
export function clientEnv(env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const settings: ClientSettings = {};
  for (const [key, name] of Object.entries(CLIENT_ENV) as Array<[keyof typeof CLIENT_ENV, string]>) {
    const value = env[name];
    if (value !== undefined && value !== "") settings[key] = value;
  }
  return settings;
}
