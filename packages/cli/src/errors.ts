/** Exit codes, like gh's: scripts can tell a refusal from a typo from a missing login. */
export const EXIT = {
  ok: 0,
  /** The API refused, or could not be reached. */
  failure: 1,
  /** The command line was wrong, a required value was missing without a TTY to ask on, or the user cancelled. */
  usage: 2,
  /** `tickets validate`: the ticket could not be checked (the server unreachable or failing); not a refusal. */
  unavailable: 3,
  /** No credentials, or the stored ones no longer work. */
  auth: 4,
} as const;

/** A mistake in how the command was called. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The user declined a confirmation or interrupted a prompt. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor() {
    super('cancelled');
  }
}

/** Nothing to authenticate with: no profile credentials and no TICKETS_API_KEY. */
export class NotLoggedInError extends Error {
  override name = 'NotLoggedInError';
}

/** A failure the CLI itself detects (e.g. an unknown profile); exits 1. */
export class CliError extends Error {
  override name = 'CliError';
}
