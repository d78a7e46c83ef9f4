import assert from "node:assert/strict";
import { test } from "node:test";

import { INSTALL_COMMAND, candidates, findExecutable, missingMessage } from "../src/logic/executable";
import { detectHost } from "../src/logic/host";
import { bundleProblem, bundledScript, interpreterCandidates, parseCheck, supported } from "../src/logic/python";
import { ChangeFacts, REDO, UNDO, classifyChange, needsClipboard } from "../src/logic/reasons";
import { elapsed, panicMessage, statusView } from "../src/logic/statusText";
import { TerminalIds, terminalName } from "../src/logic/terminalIds";

const range = (l1: number, l2: number) => ({ start: { line: l1, character: 0 }, end: { line: l2, character: 0 } });

function facts(overrides: Partial<ChangeFacts>): ChangeFacts {
  return {
    vscodeReason: undefined,
    isDirty: true,
    replacesWholeDocument: false,
    shownInVisibleEditor: true,
    inActiveEditor: true,
    visibleRanges: [range(0, 40)],
    changes: [{ range: range(3, 3), text: "a" }],
    ...overrides,
  };
}

test("typing has no reason", () => {
  assert.equal(classifyChange(facts({})), undefined);
  assert.equal(classifyChange(facts({ changes: [{ range: range(3, 3), text: "()" }] })), undefined); // auto-closed pair
  assert.equal(classifyChange(facts({ changes: [{ range: range(3, 3), text: "\n    " }] })), undefined); // Enter + indent
});

test("undo and redo come from VS Code itself", () => {
  assert.deepEqual(classifyChange(facts({ vscodeReason: UNDO, isDirty: false })), { reason: "undo" });
  assert.deepEqual(classifyChange(facts({ vscodeReason: REDO })), { reason: "redo" });
});

test("a whole-text change that leaves the document clean is a reload from disk", () => {
  assert.equal(classifyChange(facts({ isDirty: false, replacesWholeDocument: true }))?.reason, "reload");
  // The first keystroke's event still says "not dirty": it is typing, not a reload.
  assert.equal(classifyChange(facts({ isDirty: false })), undefined);
  // Select All and a key on a clean document replace the whole text too, leaving it unlike the file.
  const typed = facts({ isDirty: false, replacesWholeDocument: true, matchesDisk: false, changes: [{ range: range(0, 6), text: "-" }] });
  assert.equal(classifyChange(typed), undefined);
});

test("a clean document left equal to its file is reloaded, in several line edits too (sed -i, git checkout)", () => {
  const lines = [{ range: range(3, 4), text: "x\n" }, { range: range(9, 9), text: "y\n" }];
  assert.equal(classifyChange(facts({ isDirty: false, changes: lines, matchesDisk: true }))?.reason, "reload");
  assert.equal(classifyChange(facts({ isDirty: false, changes: lines, matchesDisk: false, selections: [range(3, 3)] })), undefined);
  assert.equal(classifyChange(facts({ isDirty: true, changes: lines, matchesDisk: true, selections: [range(3, 3)] })), undefined);
});

test("several ranges changed away from every cursor are another program's edit; at the cursors, multi-cursor typing", () => {
  const apart = [{ range: range(10, 10), text: "a" }, { range: range(20, 21), text: "b" }];
  assert.deepEqual(classifyChange(facts({ changes: apart, selections: [range(30, 30)] })), {
    source: "unknown",
    detail: "several ranges changed away from the cursors",
  });
  assert.equal(classifyChange(facts({ changes: apart, selections: [range(10, 10), range(20, 20)] })), undefined);
  assert.equal(classifyChange(facts({ changes: apart, selections: [range(20, 20)] })), undefined);
});

test("changes no visible editor shows are external; off-screen ones in the active editor unknown", () => {
  assert.equal(classifyChange(facts({ shownInVisibleEditor: false, inActiveEditor: false }))?.source, "external");
  const offscreen = classifyChange(facts({ changes: [{ range: range(100, 101), text: "x" }] }));
  assert.equal(offscreen?.source, "unknown");
  assert.equal(classifyChange(facts({ changes: [{ range: range(40, 41), text: "x" }] })), undefined);
});

test("pastes match the clipboard; longer insertions are completions", () => {
  const pasted = [{ range: range(3, 3), text: "hello()" }];
  assert.equal(needsClipboard(pasted), true);
  assert.equal(needsClipboard([{ range: range(3, 3), text: "h" }]), false);
  assert.equal(needsClipboard([{ range: range(3, 3), text: "🎉" }]), false); // one code point, two UTF-16 units
  assert.deepEqual(classifyChange(facts({ changes: pasted, clipboard: "hello()" })), { reason: "paste" });
  assert.deepEqual(classifyChange(facts({ changes: pasted, clipboard: "other" })), { reason: "completion" });
  assert.equal(classifyChange(facts({ changes: [...pasted, ...pasted] })), undefined); // multi-cursor typing
});

test("hosts are told apart by name, scheme and app host", () => {
  assert.equal(detectHost({ appName: "Visual Studio Code", uriScheme: "vscode", appHost: "desktop" }), "vscode");
  assert.equal(detectHost({ appName: "Cursor", uriScheme: "cursor", appHost: "desktop" }), "cursor");
  assert.equal(detectHost({ appName: "Antigravity", uriScheme: "antigravity", appHost: "desktop" }), "antigravity");
  assert.equal(detectHost({ appName: "VSCodium", uriScheme: "vscodium", appHost: "desktop" }), "vscodium");
  assert.equal(detectHost({ appName: "code-server", uriScheme: "code-oss", appHost: "web" }), "code-server");
  assert.equal(detectHost({ appName: "Visual Studio Code", uriScheme: "vscode", appHost: "web" }), "vscode-web");
  assert.equal(detectHost({ appName: "Some Fork", uriScheme: "somefork", appHost: "desktop" }), "some-fork");
});

test("the executable is searched in the setting alone, else venvs, PATH and ~/.local/bin", () => {
  const places = { setting: "", workspaceFolders: ["/w"], pathVariable: "/usr/bin:/opt/bin", home: "/home/u", platform: "linux" };
  assert.deepEqual(candidates(places), [
    "/w/.venv/bin/crowdcode",
    "/w/venv/bin/crowdcode",
    "/usr/bin/crowdcode",
    "/opt/bin/crowdcode",
    "/home/u/.local/bin/crowdcode",
  ]);
  assert.equal(findExecutable(places, (f) => f.startsWith("/opt")), "/opt/bin/crowdcode");
  assert.equal(findExecutable(places, () => false), undefined);
  assert.ok(missingMessage(places).includes(INSTALL_COMMAND));
  const set = { ...places, setting: "~/bin/crowdcode" };
  assert.deepEqual(candidates(set), ["/home/u/bin/crowdcode"]);
  assert.match(missingMessage(set), /crowdcode\.path/);
});

test("the status bar shows the state, a timer and the panic button while recording", () => {
  assert.equal(elapsed(65_000), "01:05");
  assert.equal(elapsed(3_725_000), "1:02:05");
  assert.equal(statusView(undefined, 0, true).panicVisible, false);
  assert.match(statusView({ recording: false, consent: "pending" }, 0, true).text, /circle-outline/);
  assert.match(statusView({ recording: false, consent: "pending", reason: "this workspace opted out" }, 0, true).tooltip, /opted out/);
  assert.match(statusView({ recording: true, consent: "pending", startTime: 1, warning: "storage 95% full" }, 5, true).tooltip, /storage 95% full/);
  const view = statusView({ recording: true, consent: "declined", startTime: 1_000, events: 7, heldBack: 3, holdBackSeconds: 900 }, 62_000, true);
  assert.equal(view.text, "$(record) 01:01");
  assert.equal(view.label, "crowdcode: recording 01:01");
  assert.equal(view.panicVisible, true);
  assert.match(view.tooltip, /7 events.*declined/);
  assert.match(view.tooltip, /3 events newer than 900 s/);
  assert.equal(statusView({ recording: true, consent: "accepted", startTime: 1 }, 5000, false).text, "$(record)");
  assert.match(panicMessage({ removed: 4, reachSeconds: 20, sessions: 2 }), /removed 4 events \(the last 20 s\) from 2 sessions/);
});

test("a terminal without a name yet is named after how it was created or its shell", () => {
  assert.equal(terminalName({ name: "bash" }), "bash");
  assert.equal(terminalName({ name: "", creationOptions: { name: "tests" } }), "tests");
  assert.equal(terminalName({ name: "", creationOptions: {}, state: { shell: "zsh" } }), "zsh");
  assert.equal(terminalName({ name: "", creationOptions: { shellPath: "/usr/bin/fish" } }), "fish");
  assert.equal(terminalName({ name: "", creationOptions: {} }, "/bin/bash"), "bash");
  assert.equal(terminalName({ name: "" }), "terminal");
});

test("terminal ids are stable per terminal object", () => {
  const ids = new TerminalIds<object>();
  const a = {};
  const b = {};
  assert.equal(ids.id(a), "terminal-1");
  assert.equal(ids.id(b), "terminal-2");
  assert.equal(ids.id(a), "terminal-1");
});

test("the bundled recorder runs with the Python extension's interpreter first, then python3/python on PATH", () => {
  assert.deepEqual(interpreterCandidates("/venv/bin/python", "/usr/bin:/bin", "linux"), [
    "/venv/bin/python",
    "/usr/bin/python3",
    "/usr/bin/python",
    "/bin/python3",
    "/bin/python",
  ]);
  assert.deepEqual(interpreterCandidates(undefined, "/usr/bin", "linux"), ["/usr/bin/python3", "/usr/bin/python"]);
  assert.equal(bundledScript("/ext"), "/ext/bundled/tool/crowdcode_lsp.py");
});

test("the bundle check is read from its last line, and each failure has its own message", () => {
  assert.deepEqual(parseCheck('noise\n{"ok": true, "missing": [], "python": "3.12"}\n'), { ok: true, missing: [], python: "3.12" });
  assert.equal(parseCheck("Traceback (most recent call last):"), undefined);
  assert.ok(supported("3.11") && supported("3.13") && supported("4.0"));
  assert.ok(!supported("3.9") && !supported("3.10") && !supported("2.7"));
  const install = "pipx install x";
  assert.match(bundleProblem([], install), /no Python 3.11 or newer/);
  const native = bundleProblem([{ python: "/usr/bin/python3", check: { ok: false, missing: ["orjson", "pyavt"], python: "3.13" } }], install);
  assert.match(native, /orjson, pyavt missing for Python 3.13 at \/usr\/bin\/python3/);
  assert.ok(native.includes(install));
  const old = bundleProblem([{ python: "/usr/bin/python3", check: { ok: false, missing: [], python: "3.10" } }], install);
  assert.ok(old.includes("needs Python 3.11 or newer to run its recorder; found /usr/bin/python3 (3.10)"));
});
