/** What the status bar shows, from the server's `crowdcode/status`. */

export interface ServerStatus {
  recording: boolean;
  consent: "pending" | "accepted" | "declined";
  sessionId?: string;
  startTime?: number;
  events?: number;
  heldBack?: number;
  holdBackSeconds?: number;
  dataDir?: string;
  problem?: string | null;
  /** Why recording did not start (off, workspace opted out, storage full). */
  reason?: string;
  /** Shown even while recording (local storage nearly full). */
  warning?: string;
  /** The core's consent question, while consent is pending. */
  consentText?: string;
}

export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const mm = String(minutes).padStart(2, "0");
  const ss = String(seconds).padStart(2, "0");
  return hours > 0 ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

export interface StatusView {
  text: string;
  /** For screen readers (and tests): the state in words. */
  label: string;
  tooltip: string;
  panicVisible: boolean;
}

export function statusView(status: ServerStatus | undefined, now: number, showTimer: boolean): StatusView {
  if (status === undefined) {
    return { text: "$(loading~spin) crowdcode", label: "crowdcode: starting", tooltip: "crowdcode: starting the recorder", panicVisible: false };
  }
  if (!status.recording) {
    return {
      text: "$(circle-outline) crowdcode",
      label: "crowdcode: not recording",
      tooltip: `crowdcode: not recording${status.reason ? `: ${status.reason}` : ""} (click for options)`,
      panicVisible: false,
    };
  }
  const timer = showTimer && status.startTime ? ` ${elapsed(now - status.startTime)}` : "";
  const problem = [status.problem, status.warning].filter(Boolean).map((line) => `\n${line}`).join("");
  const held =
    status.heldBack !== undefined && status.holdBackSeconds !== undefined
      ? `\n${status.heldBack} events newer than ${status.holdBackSeconds} s are held back (panic can still remove them)`
      : "";
  return {
    text: `$(record)${timer}`,
    label: `crowdcode: recording${timer}`,
    tooltip: `crowdcode: recording, ${status.events ?? 0} events. Consent to upload: ${status.consent}.${held}${problem}`,
    panicVisible: true,
  };
}

/** The message after a panic press; presses within 3 s reach 10 s further back. */
export function panicMessage(answer: { removed: number; reachSeconds: number; sessions: number }): string {
  const sessions = answer.sessions === 1 ? "1 session" : `${answer.sessions} sessions`;
  return `crowdcode: removed ${answer.removed} events (the last ${answer.reachSeconds} s) from ${sessions}. Press again within 3 s to go 10 s further back.`;
}
