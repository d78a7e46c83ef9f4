/**
 * Which application hosts the extension: VS Code's forks share its API, and only `appName`,
 * `uriScheme` and `appHost` tell them apart. Recorded in the session metadata (editor.host).
 */

export interface HostFacts {
  appName: string;
  uriScheme: string;
  appHost: string;
}

const BY_SCHEME: Record<string, string> = {
  vscode: "vscode",
  "vscode-insiders": "vscode-insiders",
  vscodium: "vscodium",
  "vscodium-insiders": "vscodium",
  cursor: "cursor",
  antigravity: "antigravity",
  windsurf: "windsurf",
  trae: "trae",
  positron: "positron",
};

export function detectHost(facts: HostFacts): string {
  const name = facts.appName.toLowerCase();
  if (facts.appHost === "web" && name.includes("code-server")) {
    return "code-server";
  }
  if (name.includes("code-server") || facts.appHost === "server-distro") {
    return "code-server";
  }
  for (const candidate of ["cursor", "antigravity", "vscodium", "windsurf", "trae", "positron"]) {
    if (name.includes(candidate)) {
      return candidate;
    }
  }
  const byScheme = BY_SCHEME[facts.uriScheme.toLowerCase()];
  if (byScheme) {
    return facts.appHost === "web" && byScheme === "vscode" ? "vscode-web" : byScheme;
  }
  return facts.appHost === "web" ? "vscode-web" : name.replace(/[^a-z0-9]+/g, "-") || "unknown";
}
