/**
 * The crowdcode extension for VS Code and its forks (Cursor, Antigravity, VSCodium, code-server).
 *
 * It starts `crowdcode lsp` with vscode-languageclient: document sync (open, change, save, close)
 * records edits and saves. It adds what LSP lacks through `crowdcode/*` notifications: selections
 * and visible ranges (throttled), the active editor, window focus, terminals (shell integration),
 * and edit reasons; and it shows the recording state, a timer and the panic button.
 * The forwarding logic lives in ./logic (no `vscode` import) and is unit-tested with node --test.
 */

import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as vscode from "vscode";
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ErrorHandlerResult,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import { Forwarder } from "./logic/forwarder";
import { InFlight } from "./logic/inFlight";
import { detectHost } from "./logic/host";
import { INSTALL_COMMAND, findExecutable, missingMessage } from "./logic/executable";
import { BundleCheck, bundleProblem, bundledScript, interpreterCandidates, parseCheck } from "./logic/python";
import { classifyChange, needsClipboard } from "./logic/reasons";
import { ServerStatus, panicMessage, statusView } from "./logic/statusText";
import { TerminalIds, terminalName } from "./logic/terminalIds";

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 3 * 60 * 1000;
const CONSENT_ASKED = "crowdcode.consentAsked";
const INSTALL_PROBLEM_SHOWN = "crowdcode.installProblemShown";
const CHECK_TIMEOUT_MS = 20_000;
const CLIPBOARD_TIMEOUT_MS = 50;
const MAX_COMPARED_BYTES = 1024 * 1024;

let client: LanguageClient | undefined;
let forwarder: Forwarder | undefined;
let status: ServerStatus | undefined;
const changesInFlight = new InFlight();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration("crowdcode");
  const places = {
    setting: config.get<string>("path", ""),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    pathVariable: process.env.PATH ?? "",
    home: os.homedir(),
    platform: process.platform,
  };
  const item = vscode.window.createStatusBarItem("crowdcode.recording", vscode.StatusBarAlignment.Left, 100);
  item.name = "crowdcode recording";
  item.command = "crowdcode.status";
  const panicItem = vscode.window.createStatusBarItem("crowdcode.panic", vscode.StatusBarAlignment.Left, 99);
  panicItem.name = "crowdcode panic";
  panicItem.text = "$(trash) Panic";
  panicItem.tooltip = "crowdcode: delete the last 10 s (press again within 3 s: 20 s, 30 s, …)";
  panicItem.command = "crowdcode.panic";
  context.subscriptions.push(item, panicItem);

  const render = () => {
    const view = statusView(status, Date.now(), vscode.workspace.getConfiguration("crowdcode").get("showTimer", true));
    item.text = view.text;
    item.accessibilityInformation = { label: view.label };
    item.tooltip = view.tooltip;
    item.show();
    if (view.panicVisible) {
      panicItem.show();
    } else {
      panicItem.hide();
    }
  };
  render();
  const ticker = setInterval(render, 1000);
  context.subscriptions.push({ dispose: () => clearInterval(ticker) });

  const isExecutable = (file: string) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  };
  registerCommands(context, render);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("crowdcode.path")) {
        const reload = "Reload Window";
        const answer = await vscode.window.showInformationMessage("crowdcode: reload the window to use the new crowdcode.path.", reload);
        if (answer === reload) {
          await vscode.commands.executeCommand("workbench.action.reloadWindow");
        }
      }
    }),
  );
  // The crowdcode.path setting alone when set; else the bundled recorder with a Python found
  // through the Python extension or PATH; else an installed `crowdcode` (workspace venv, PATH).
  let server: { command: string; args: string[] } | undefined;
  let problem = missingMessage(places);
  if (!places.setting) {
    const bundled = await bundledServer(context, places.pathVariable, isExecutable);
    server = bundled.server;
    problem = bundled.problem ?? problem;
  }
  if (server === undefined) {
    const executable = findExecutable(places, isExecutable);
    server = executable === undefined ? undefined : { command: executable, args: ["lsp"] };
  }
  if (server === undefined) {
    status = { recording: false, consent: "pending" };
    render();
    item.tooltip = problem;
    if (!context.globalState.get(INSTALL_PROBLEM_SHOWN)) { // once: the status bar keeps saying it
      await context.globalState.update(INSTALL_PROBLEM_SHOWN, true);
      void vscode.window.showErrorMessage(problem);
    }
    return;
  }

  const serverOptions: ServerOptions = {
    command: server.command,
    args: server.args,
    transport: TransportKind.stdio,
  };
  const restarts: number[] = [];
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: {
      host: detectHost({ appName: vscode.env.appName, uriScheme: vscode.env.uriScheme, appHost: vscode.env.appHost }),
      appName: vscode.env.appName,
      extensionVersion: context.extension.packageJSON.version,
      status: true, // the server's crowdcode/status notifications drive the status bar
      visibleRanges: true, // each focused editor's lines follow it: the server waits for them
    },
    outputChannelName: "crowdcode",
    errorHandler: {
      error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue }),
      closed: (): CloseHandlerResult => {
        const now = Date.now();
        restarts.push(now);
        while (restarts.length && restarts[0] < now - RESTART_WINDOW_MS) {
          restarts.shift();
        }
        if (restarts.length > MAX_RESTARTS) {
          return { action: CloseAction.DoNotRestart, message: "crowdcode: the recorder crashed repeatedly and is stopped. Run 'crowdcode: Restart the Language Server' to try again." };
        }
        return { action: CloseAction.Restart, handled: true };
      },
    },
    middleware: {
      didChange: (event, next) => {
        const reason = editReason(event); // the editor's state read now, at this change
        return changesInFlight.inOrder(async () => {
          try {
            const params = await reason;
            if (params && client) {
              await client.sendNotification("crowdcode/editReason", params);
            }
          } finally {
            await next(event);
          }
        });
      },
    },
  };
  client = new LanguageClient("crowdcode", "crowdcode recorder", serverOptions, clientOptions);
  const lsp = client;
  forwarder = new Forwarder(
    (method, params) => {
      if (lsp.state === State.Running) {
        void lsp.sendNotification(method, params);
      }
    },
    { throttleMs: config.get<number>("throttleMs", 100), outputMs: 200 },
  );
  context.subscriptions.push({ dispose: () => forwarder?.dispose() });
  context.subscriptions.push(
    // The recorder's barrier: answered once the changes taken in before it are on the wire.
    lsp.onRequest("crowdcode/sync", async () => {
      await changesInFlight.settled();
      return null;
    }),
  );
  context.subscriptions.push(
    lsp.onNotification("crowdcode/status", (params: ServerStatus) => {
      status = params;
      render();
      void askConsentOnce(context);
    }),
  );
  context.subscriptions.push(
    lsp.onDidChangeState((change) => {
      if (change.newState === State.Running) {
        sendEditorState();
      } else if (change.newState === State.Stopped) {
        status = undefined;
        render();
      }
    }),
  );
  registerForwarding(context);
  await lsp.start();
}

export async function deactivate(): Promise<void> {
  forwarder?.flush();
  if (client) {
    await client.stop();
  }
}

/** Why the coming change happened, as ``crowdcode/editReason``'s params (undefined: no reason).
 * Reads the document and editors before its first wait, so at the change itself; never throws. */
async function editReason(event: vscode.TextDocumentChangeEvent): Promise<object | undefined> {
  if (!client || event.contentChanges.length === 0) {
    return undefined;
  }
  try {
    const document = event.document;
    const uri = document.uri.toString();
    const version = document.version;
    const active = vscode.window.activeTextEditor;
    const inActiveEditor = active?.document === document;
    const changes = event.contentChanges.map((c) => ({ range: c.range, text: c.text }));
    const only = event.contentChanges.length === 1 ? event.contentChanges[0] : undefined;
    const end = document.lineAt(document.lineCount - 1).range.end;
    const note = classifyChange({
      vscodeReason: event.reason,
      isDirty: document.isDirty,
      replacesWholeDocument: only !== undefined && only.rangeOffset === 0 && only.text.length === document.offsetAt(end),
      shownInVisibleEditor: vscode.window.visibleTextEditors.some((e) => e.document === document),
      inActiveEditor,
      visibleRanges: inActiveEditor && active ? [...active.visibleRanges] : [],
      selections: inActiveEditor && active ? [...active.selections] : [],
      changes,
      matchesDisk: !document.isDirty && event.reason === undefined ? await matchesDisk(document.uri, document.getText()) : undefined,
      clipboard: vscode.env.uiKind === vscode.UIKind.Desktop && needsClipboard(changes) ? await readClipboard() : undefined,
    });
    return note ? { uri, version, ...note } : undefined;
  } catch (error) {
    client.warn(`crowdcode: no edit reason: ${error}`);
    return undefined;
  }
}

/** Whether a clean document's text equals its file (a reload from disk): read only for files up to
 * MAX_COMPARED_BYTES, and only while the document is clean, so not while the person types. */
async function matchesDisk(uri: vscode.Uri, text: string): Promise<boolean | undefined> {
  if (uri.scheme !== "file") {
    return undefined;
  }
  try {
    const stat = await fs.promises.stat(uri.fsPath);
    if (stat.size > MAX_COMPARED_BYTES) {
      return undefined;
    }
    return (await fs.promises.readFile(uri.fsPath, "utf8")) === text;
  } catch {
    return undefined;
  }
}

/** The clipboard's text, or undefined when it cannot be read at once (a browser may ask the user). */
async function readClipboard(): Promise<string | undefined> {
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), CLIPBOARD_TIMEOUT_MS));
  try {
    return await Promise.race([Promise.resolve(vscode.env.clipboard.readText()), timeout]);
  } catch {
    return undefined;
  }
}

function sendEditorState(): void {
  const editor = vscode.window.activeTextEditor;
  forwarder?.activeEditor(editor ? editor.document.uri.toString() : null);
  if (editor) {
    forwardEditor(editor);
  }
  const terminal = vscode.window.activeTerminal;
  if (terminal && forwardTerminals()) {
    forwarder?.terminalFocus(terminalIds.id(terminal), terminalName(terminal, vscode.env.shell));
  }
}

function forwardSelections(): boolean {
  return vscode.workspace.getConfiguration("crowdcode").get("forwardSelections", true);
}

function forwardTerminals(): boolean {
  return vscode.workspace.getConfiguration("crowdcode").get("forwardTerminals", true);
}

function forwardEditor(editor: vscode.TextEditor): void {
  if (!forwardSelections()) {
    return;
  }
  const uri = editor.document.uri.toString();
  forwarder?.selection(uri, editor.selections.map((s) => ({ anchor: s.anchor, active: s.active })));
  forwarder?.visibleRanges(uri, [...editor.visibleRanges]);
}

const terminalIds = new TerminalIds<vscode.Terminal>();

function registerForwarding(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      forwarder?.activeEditor(editor ? editor.document.uri.toString() : null);
      if (editor) {
        forwardEditor(editor);
      }
    }),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      if (!forwardSelections()) {
        return;
      }
      forwarder?.selection(
        event.textEditor.document.uri.toString(),
        event.selections.map((s) => ({ anchor: s.anchor, active: s.active })),
      );
    }),
    vscode.window.onDidChangeTextEditorVisibleRanges((event) => {
      if (forwardSelections() && event.textEditor === vscode.window.activeTextEditor) {
        forwarder?.visibleRanges(event.textEditor.document.uri.toString(), [...event.visibleRanges]);
      }
    }),
    vscode.window.onDidChangeWindowState((state) => forwarder?.focus(state.focused)),
    vscode.window.onDidChangeActiveTerminal((terminal) => {
      if (terminal && forwardTerminals()) {
        forwarder?.terminalFocus(terminalIds.id(terminal), terminalName(terminal, vscode.env.shell));
      }
    }),
    vscode.window.onDidStartTerminalShellExecution(async (event) => {
      if (!forwardTerminals()) {
        return;
      }
      const id = terminalIds.id(event.terminal);
      forwarder?.terminalCommand(id, terminalName(event.terminal, vscode.env.shell), event.execution.commandLine.value, event.execution.cwd?.fsPath);
      for await (const data of event.execution.read()) {
        forwarder?.terminalOutput(id, data);
      }
    }),
    vscode.window.onDidEndTerminalShellExecution((event) => {
      if (forwardTerminals()) {
        forwarder?.terminalCommandEnd(terminalIds.id(event.terminal), terminalName(event.terminal, vscode.env.shell), event.exitCode, event.execution.commandLine.value);
      }
    }),
  );
}

async function askConsentOnce(context: vscode.ExtensionContext): Promise<void> {
  if (!status || status.consent !== "pending" || context.globalState.get(CONSENT_ASKED)) {
    return;
  }
  await context.globalState.update(CONSENT_ASKED, true);
  await askConsent();
}

async function askConsent(): Promise<void> {
  const accept = "Allow upload";
  const decline = "Keep it on this machine";
  const text =
    status?.consentText ??
    "crowdcode records your edits, selections and terminal commands on this machine, to build training data for coding models. " +
      "Nothing leaves your machine unless you allow it. Upload your recordings?";
  const answer = await vscode.window.showInformationMessage(
    text,
    { modal: true },
    accept,
    decline,
  );
  if (answer && client) {
    await client.sendNotification("crowdcode/consent", { status: answer === accept ? "accepted" : "declined" });
  }
}

function registerCommands(context: vscode.ExtensionContext, render: () => void): void {
  const running = (): LanguageClient | undefined => {
    if (client?.state === State.Running) {
      return client;
    }
    void vscode.window.showWarningMessage("crowdcode: the recorder is not running.");
    return undefined;
  };
  context.subscriptions.push(
    vscode.commands.registerCommand("crowdcode.start", async () => {
      await running()?.sendNotification("crowdcode/setRecording", { recording: true });
    }),
    vscode.commands.registerCommand("crowdcode.stop", async () => {
      forwarder?.flush();
      await running()?.sendNotification("crowdcode/setRecording", { recording: false });
    }),
    vscode.commands.registerCommand("crowdcode.panic", async () => {
      const lsp = running();
      if (!lsp) {
        return;
      }
      forwarder?.flush();
      const answer = await lsp.sendRequest<{ removed: number; reachSeconds: number; sessions: number }>("crowdcode/panic", {});
      void vscode.window.showInformationMessage(panicMessage(answer));
    }),
    vscode.commands.registerCommand("crowdcode.consent", askConsent),
    vscode.commands.registerCommand("crowdcode.status", async () => {
      const lsp = running();
      if (!lsp) {
        return;
      }
      status = await lsp.sendRequest<ServerStatus>("crowdcode/getStatus", {});
      render();
      const choices = [
        status.recording ? "Stop recording" : "Start recording",
        "Panic: delete the last 10 s",
        "Consent to upload…",
        "Open data folder",
      ];
      const picked = await vscode.window.showQuickPick(choices, {
        title: `crowdcode: ${status.recording ? "recording" : "not recording"}, ${status.events ?? 0} events, consent ${status.consent}`,
      });
      const commands: Record<string, string> = {
        [choices[0]]: status.recording ? "crowdcode.stop" : "crowdcode.start",
        [choices[1]]: "crowdcode.panic",
        [choices[2]]: "crowdcode.consent",
        [choices[3]]: "crowdcode.openDataFolder",
      };
      if (picked) {
        await vscode.commands.executeCommand(commands[picked]);
      }
    }),
    vscode.commands.registerCommand("crowdcode.openDataFolder", async () => {
      if (status?.dataDir) {
        await vscode.env.openExternal(vscode.Uri.file(status.dataDir));
      }
    }),
    vscode.commands.registerCommand("crowdcode.restart", async () => {
      if (client) {
        await client.restart();
      }
    }),
  );
}

/** The Python extension's interpreter for the first workspace folder, if that extension is there. */
async function pythonFromExtension(): Promise<string | undefined> {
  try {
    const extension = vscode.extensions.getExtension("ms-python.python");
    if (!extension) {
      return undefined;
    }
    const api = extension.isActive ? extension.exports : await extension.activate();
    const active = api?.environments?.getActiveEnvironmentPath?.(vscode.workspace.workspaceFolders?.[0]?.uri);
    const environment = active && (await api.environments.resolveEnvironment(active));
    return environment?.executable?.uri?.fsPath;
  } catch {
    return undefined; // an old or broken Python extension: PATH still works
  }
}

function checkBundle(python: string, script: string): Promise<BundleCheck | undefined> {
  return new Promise((resolve) => {
    execFile(python, [script, "--check"], { timeout: CHECK_TIMEOUT_MS }, (error, stdout) => {
      resolve(error ? undefined : parseCheck(stdout));
    });
  });
}

/** The bundled recorder and the first interpreter that can run it, or why none can. */
async function bundledServer(
  context: vscode.ExtensionContext,
  pathVariable: string,
  isExecutable: (file: string) => boolean,
): Promise<{ server?: { command: string; args: string[] }; problem?: string }> {
  const script = bundledScript(context.extensionPath);
  if (!fs.existsSync(script)) {
    return {};
  }
  const tried: { python: string; check: BundleCheck | undefined }[] = [];
  const candidates = interpreterCandidates(await pythonFromExtension(), pathVariable, process.platform);
  for (const python of candidates.filter(isExecutable)) {
    const check = await checkBundle(python, script);
    if (check?.ok) {
      return { server: { command: python, args: [script] } };
    }
    tried.push({ python, check });
  }
  return { problem: bundleProblem(tried, INSTALL_COMMAND) };
}
