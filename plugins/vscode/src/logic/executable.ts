/** Finding the `crowdcode` executable that the extension starts as its language server. */

import * as path from "path";

/** crowdcode is not on a package index: pipx installs it from its repository (or a built wheel, README). */
export const INSTALL_COMMAND = "pipx install 'crowdcode[lsp] @ git+https://github.com/crowdcode/crowdcode'";

export interface SearchPlaces {
  /** The `crowdcode.path` setting ("" when unset). */
  setting: string;
  workspaceFolders: string[];
  pathVariable: string;
  home: string;
  platform: string;
}

/** Where to look, in order: the setting alone when it is set. */
export function candidates(places: SearchPlaces): string[] {
  const exe = places.platform === "win32" ? "crowdcode.exe" : "crowdcode";
  if (places.setting) {
    const expanded = places.setting.replace(/^~(?=$|[\\/])/, places.home);
    return [expanded];
  }
  const bin = places.platform === "win32" ? "Scripts" : "bin";
  const separator = places.platform === "win32" ? ";" : ":";
  const found = [
    ...places.workspaceFolders.flatMap((folder) => [path.join(folder, ".venv", bin, exe), path.join(folder, "venv", bin, exe)]),
    ...places.pathVariable.split(separator).filter(Boolean).map((dir) => path.join(dir, exe)),
    path.join(places.home, ".local", "bin", exe),
  ];
  return [...new Set(found)];
}

export function findExecutable(places: SearchPlaces, isExecutable: (file: string) => boolean): string | undefined {
  return candidates(places).find(isExecutable);
}

/** The one message shown when nothing was found. */
export function missingMessage(places: SearchPlaces): string {
  if (places.setting) {
    return `crowdcode: the executable set in crowdcode.path (${places.setting}) does not exist. Install crowdcode with \`${INSTALL_COMMAND}\` or fix the setting.`;
  }
  return `crowdcode is not installed: install it with \`${INSTALL_COMMAND}\` (or set crowdcode.path), then reload the window.`;
}
