// A seeded random session in code-server, as a person edits: typing (accents, non-BMP characters),
// moving and selecting, several cursors, copy and paste, undo and redo, Replace All, Rename Symbol,
// Format Document, tab switches, a split, scrolling, save, close and reopen, files created and
// deleted in the explorer, a command in the terminal that changes a saved file; Save All at the end.
// With crowd-code 2.0 installed beside crowdcode, its consent dialog is answered first and its
// recording stopped (which uploads it) at the end.
// Usage: node random.js URL SEED STEPS WORKSPACE FILES CROWD_CODE PROFILE_DIR OUT_JSON
//   WORKSPACE: the folder code-server opened; FILES: comma-separated workspace files to open;
//   CROWD_CODE: "1" when crowd-code 2.0 records too.
// Writes what it did (seen.actions, each with its name and details) and saw to OUT_JSON.
const fs = require("node:fs");
const path = require("node:path");
const { session, activeTab, openFile, runCommand, visibleLines } = require("./page");

const [url, seedText, stepsText, workspace, filesText, crowdCode, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], steps: [], views: [], tabs: [], actions: [], seed: Number(seedText) };

/** mulberry32: a small, well-known seeded generator, so that a seed replays the same session. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(Number(seedText));
const pick = (items) => items[Math.floor(random() * items.length)];
const between = (low, high) => low + Math.floor(random() * (high - low + 1));

const WORDS = ["alpha", "beta", "gamma", "é", "naïve", "🎉", "𝔘𝔫𝔦", "中文", "x", "42", "(", ")", "tab\tstop", "  "];
const files = filesText.split(",");
const state = { groups: 1, terminal: false, created: 0, deletable: [] };

/** Focus the active group's editor as a person does, by clicking into its text (which also moves
 * the cursor); a group with no editor gets a file opened. */
async function focusEditor(page) {
  const lines = page.locator(".editor-group-container.active .monaco-editor .view-lines");
  if ((await lines.count()) === 0) {
    await openFile(page, seen, pick(files));
  }
  const box = await lines.first().boundingBox();
  await page.mouse.click(box.x + between(5, Math.min(400, box.width - 5)), box.y + between(5, Math.min(300, box.height - 5)));
}

function did(action, detail = {}) {
  seen.actions.push({ action, ...detail });
}

/** What the person does; each is picked at random, weighted by how often people do it. */
const ACTIONS = [
  [8, async function type(page) {
    await focusEditor(page);
    const text = Array.from({ length: between(1, 4) }, () => pick(WORDS)).join(" ");
    await page.keyboard.type(text, { delay: 30 });
    if (random() < 0.4) await page.keyboard.press("Enter");
    did("type", { text });
  }],
  [4, async function move(page) {
    await focusEditor(page);
    const key = pick(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "Control+Home", "Control+End"]);
    for (let i = between(1, 4); i > 0; i--) await page.keyboard.press(key);
    did("move", { key });
  }],
  [4, async function selectAndReplace(page) {
    await focusEditor(page);
    const key = pick(["Shift+ArrowRight", "Shift+ArrowLeft", "Shift+ArrowDown", "Shift+End", "Shift+Home"]);
    for (let i = between(1, 5); i > 0; i--) await page.keyboard.press(key);
    const replacement = random() < 0.5 ? pick(WORDS) : "";
    if (replacement) await page.keyboard.type(replacement, { delay: 30 });
    else await page.keyboard.press("Backspace");
    did("selectAndReplace", { key, replacement });
  }],
  [3, async function multiCursor(page) {
    await focusEditor(page);
    await runCommand(page, "Add Cursor Below");
    await page.locator(".editor-group-container.active .cursor.secondary").first().waitFor({ timeout: 5_000 }).catch(() => {});
    const text = pick(WORDS);
    await page.keyboard.type(text, { delay: 30 });
    await page.keyboard.press("Escape");
    did("multiCursor", { text });
  }],
  [3, async function copyPaste(page) {
    await focusEditor(page);
    await page.keyboard.press("Home");
    await page.keyboard.press("Shift+End");
    await page.keyboard.press("Control+C");
    await page.keyboard.press(pick(["Control+End", "ArrowDown", "End"]));
    await page.keyboard.press("Control+V");
    did("copyPaste");
  }],
  [4, async function undoRedo(page) {
    await focusEditor(page);
    const undos = between(1, 3);
    for (let i = 0; i < undos; i++) await page.keyboard.press("Control+Z");
    const redos = between(0, undos);
    for (let i = 0; i < redos; i++) await page.keyboard.press("Control+Shift+Z");
    did("undoRedo", { undos, redos });
  }],
  [2, async function replaceAll(page) {
    await focusEditor(page);
    const [find, replace] = pick([["alpha", "ALPHA"], ["line", "row"], ["é", "e"], ["🎉", ":tada:"]]);
    await page.keyboard.press("Control+H");
    await page.waitForSelector(".editor-group-container.active .find-widget.visible .replace-part", { timeout: 10_000 });
    await page.keyboard.press("Control+A");
    await page.keyboard.type(find, { delay: 20 });
    await page.locator(".editor-group-container.active .find-widget .replace-part textarea").first().focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(replace, { delay: 20 });
    await page.keyboard.press("Control+Alt+Enter");
    await page.keyboard.press("Escape");
    did("replaceAll", { find, replace });
  }],
  [1, async function rename(page) {
    // The CSS language server renames a custom property everywhere it is used.
    await openFile(page, seen, "style.css");
    await focusEditor(page);
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Home"); // the line's first non-blank: "--accent"
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await runCommand(page, "Rename Symbol");
    const box = page.locator(".rename-box input");
    const shown = await box.waitFor({ timeout: 20_000 }).then(() => true, () => false);
    const name = `--renamed${between(1, 99)}`;
    if (shown) {
      await box.click(); // the box may show before it has the focus
      await page.keyboard.press("Control+A");
      await page.keyboard.type(name, { delay: 20 });
      await page.keyboard.press("Enter");
      await box.waitFor({ state: "hidden", timeout: 20_000 }).catch(() => {});
    } else {
      await page.screenshot({ path: outPath.replace(/\.json$/, "-rename.png") });
      await page.keyboard.press("Escape");
    }
    did("rename", { to: name, shown });
  }],
  [1, async function format(page) {
    await openFile(page, seen, "data.json");
    await focusEditor(page);
    await runCommand(page, "Format Document");
    did("format");
  }],
  [4, async function switchTab(page) {
    if (random() < 0.5) {
      await page.keyboard.down("Control");
      await page.keyboard.press("Tab");
      await page.keyboard.up("Control"); // released: the next tab of the group
      did("switchTab", { with: "Control+Tab", to: await activeTab(page).catch(() => null) });
    } else {
      const file = pick(files);
      await openFile(page, seen, file);
      did("switchTab", { with: "Quick Open", to: file });
    }
  }],
  [1, async function split(page) {
    if (state.groups === 1) {
      await page.keyboard.press("Control+Backslash");
      await page.waitForFunction(() => document.querySelectorAll(".editor-group-container").length === 2);
      state.groups = 2;
      did("split");
    } else {
      await page.keyboard.press(pick(["Control+1", "Control+2"]));
      did("focusGroup");
    }
  }],
  [3, async function scroll(page) {
    if (random() < 0.5) await openFile(page, seen, "big.txt");
    await focusEditor(page);
    const how = pick(["PageDown", "PageUp", "wheel"]);
    for (let i = between(1, 3); i > 0; i--) {
      if (how === "wheel") {
        const box = await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().boundingBox();
        await page.mouse.move(box.x + 100, box.y + 100);
        await page.mouse.wheel(0, between(-600, 1800));
      } else {
        await page.keyboard.press(how);
      }
    }
    await visibleLines(page, seen);
    did("scroll", { how });
  }],
  [3, async function save(page) {
    await focusEditor(page);
    await page.keyboard.press("Control+S");
    did("save");
  }],
  [2, async function closeAndReopen(page) {
    await focusEditor(page);
    const file = await activeTab(page);
    await page.keyboard.press("Control+S"); // a dirty tab would ask before closing
    await page.waitForSelector(".editor-group-container.active .tab.active:not(.dirty)", { timeout: 10_000 });
    await page.keyboard.press("Control+W");
    did("close", { file });
    if (random() < 0.7 && files.includes(file)) {
      await openFile(page, seen, file);
      did("reopen", { file });
    }
  }],
  [1, async function createFile(page) {
    const name = `new-${++state.created}.txt`;
    await page.keyboard.press("Control+Shift+E");
    await page.waitForSelector(".explorer-folders-view", { timeout: 10_000 });
    await runCommand(page, "File: New File...");
    // In the explorer the command asks for a name in place; elsewhere a quick pick offers kinds.
    const input = page.locator(".explorer-folders-view .monaco-inputbox input");
    if (await input.waitFor({ timeout: 5_000 }).then(() => true, () => false)) {
      await input.fill(name);
    } else {
      await page.keyboard.type(name);
      await page.locator(".quick-input-list .monaco-list-row.focused").waitFor({ timeout: 5_000 });
    }
    await page.keyboard.press("Enter");
    await page.waitForSelector(`.editor-group-container.active .tab.active[aria-label^="${name}"]`, { timeout: 20_000 });
    await page.keyboard.type(`made in the explorer ${pick(WORDS)}\n`, { delay: 30 });
    await page.keyboard.press("Control+S");
    state.deletable.push(name);
    did("createFile", { file: name });
  }],
  [1, async function deleteFile(page) {
    const name = state.deletable.shift();
    if (!name) return;
    await runCommand(page, "File: Save All");
    await page.keyboard.press("Control+Shift+E");
    const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label^="${name}"]`).first();
    await row.click();
    await page.keyboard.press("Delete");
    // A dialog asks first (code-server has no trash: to delete for good).
    const button = page.locator(".monaco-dialog-box a.monaco-button", { hasText: /^(Delete|Move to Trash)$/ }).first();
    await button.waitFor({ timeout: 10_000 });
    await button.click();
    await row.waitFor({ state: "detached", timeout: 20_000 });
    did("deleteFile", { file: name });
  }],
  [1, async function terminalEdit(page) {
    await runCommand(page, "File: Save All"); // another program changes saved files only
    if (!state.terminal) {
      await runCommand(page, "Terminal: Create New Terminal");
      await page.waitForSelector(".terminal-wrapper .xterm", { timeout: 30_000 });
      state.terminal = true;
    } else {
      await runCommand(page, "Terminal: Focus Terminal");
    }
    await page.locator(".terminal-wrapper .xterm-helper-textarea").first().focus();
    const file = pick(files.filter((f) => f !== "big.txt"));
    const command = `sleep 1; printf 'from the terminal\\n' >> ${file}`;
    const onDisk = path.join(workspace, file);
    const before = fs.statSync(onDisk).size;
    await page.keyboard.type(command, { delay: 20 });
    await page.keyboard.press("Enter");
    // Until the shell has run it (a loaded machine takes its time), then a moment for VS Code's
    // file watcher: an edit typed into the file before VS Code reloads it would make Save All ask
    // whether to overwrite the newer file on disk.
    const deadline = Date.now() + 60_000;
    while (fs.statSync(onDisk).size === before) {
      if (Date.now() > deadline) throw new Error(`the terminal's command did not change ${file}`);
      await page.waitForTimeout(100);
    }
    await page.waitForTimeout(1_500);
    did("terminalEdit", { file, command });
  }],
];
const TOTAL = ACTIONS.reduce((sum, [weight]) => sum + weight, 0);

function choose() {
  let roll = random() * TOTAL;
  for (const [weight, action] of ACTIONS) {
    roll -= weight;
    if (roll < 0) return action;
  }
  return ACTIONS[0][1];
}

session(url, profileDir, outPath, seen, async (page) => {
  if (crowdCode === "1") {
    // crowd-code 2.0 asks for consent in a modal dialog before it records (its upload goes to the
    // test's gateway on the loopback address).
    await page.locator(".monaco-dialog-box a.monaco-button", { hasText: "Consent to data collection" }).click({ timeout: 90_000 });
    await page.waitForSelector(".statusbar-item .codicon-debug-stop", { timeout: 60_000 });
    seen.steps.push("crowd-code recording");
  }
  await openFile(page, seen, files[0]);
  await page.waitForSelector(".editor-group-container.active .monaco-editor .view-lines", { timeout: 30_000 });
  seen.steps.push("opened");
  for (let step = 0; step < Number(stepsText); step++) {
    const action = choose();
    seen.steps.push(`${step}:${action.name}`);
    await action(page);
    await page.waitForTimeout(between(150, 600)); // a person's pause between two things
    // A dialog left open (Format Document in a file no formatter knows offers to install one):
    // the person cancels it.
    if (await page.locator(".monaco-dialog-box").isVisible()) {
      await page.keyboard.press("Escape");
      await page.locator(".monaco-dialog-box").waitFor({ state: "hidden", timeout: 10_000 });
      did("cancelDialog");
    }
  }
  await runCommand(page, "File: Save All");
  await page.waitForSelector(".tab.dirty", { state: "detached", timeout: 20_000 }).catch(() => {});
  await page.waitForTimeout(1_500); // past the recorders' throttles and the file watchers
  if (crowdCode === "1") {
    await runCommand(page, "crowd-code: Stop Recording");
    await page.waitForSelector(".statusbar-item .codicon-debug-stop", { state: "detached", timeout: 30_000 });
    seen.steps.push("crowd-code stopped");
  }
  seen.steps.push("done");
});
