/**
 * Running the crowdcode bundled in the .vsix (`bundled/libs`, Microsoft's Python tools extension
 * layout) with a Python interpreter found through the Python extension's API, then on PATH.
 */

import * as path from "path";

/** Interpreters to try, in order: the Python extension's active one, then python3/python on PATH. */
export function interpreterCandidates(fromPythonExtension: string | undefined, pathVariable: string, platform: string): string[] {
  const separator = platform === "win32" ? ";" : ":";
  const names = platform === "win32" ? ["python.exe", "python3.exe"] : ["python3", "python"];
  const onPath = pathVariable
    .split(separator)
    .filter(Boolean)
    .flatMap((dir) => names.map((name) => path.join(dir, name)));
  return [...new Set([...(fromPythonExtension ? [fromPythonExtension] : []), ...onPath])];
}

/** The script that starts the bundled server (and answers `--check`). */
export function bundledScript(extensionPath: string): string {
  return path.join(extensionPath, "bundled", "tool", "crowdcode_lsp.py");
}

/** What `crowdcode_lsp.py --check` prints. */
export interface BundleCheck {
  ok: boolean;
  missing: string[];
  python: string;
}

/** Whether a "major.minor" version is 3.11 or newer. */
export function supported(version: string): boolean {
  const [major, minor] = version.split(".").map(Number);
  return major > 3 || (major === 3 && minor >= 11);
}

export function parseCheck(output: string): BundleCheck | undefined {
  try {
    const parsed = JSON.parse(output.trim().split("\n").pop() ?? "");
    return typeof parsed?.ok === "boolean" && Array.isArray(parsed.missing) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The one message shown when the bundle cannot run and no installed crowdcode was found either. */
export function bundleProblem(tried: { python: string; check: BundleCheck | undefined }[], installCommand: string): string {
  const fix = `Install crowdcode with \`${installCommand}\` (or set crowdcode.path), then reload the window.`;
  if (tried.length === 0) {
    return `crowdcode found no Python 3.11 or newer to run its recorder (install Python, or select one with the Python extension). ${fix}`;
  }
  const usable = tried.find((t) => t.check && supported(t.check.python));
  if (usable?.check?.missing.length) {
    return `crowdcode's bundled recorder needs native packages built for another Python or platform (${usable.check.missing.join(", ")} missing for Python ${usable.check.python} at ${usable.python}). ${fix}`;
  }
  const versions = tried.map((t) => `${t.python}${t.check ? ` (${t.check.python})` : ""}`).join(", ");
  return `crowdcode needs Python 3.11 or newer to run its recorder; found ${versions}. ${fix}`;
}
