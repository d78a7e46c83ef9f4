// Drives code-server in headless Chromium like a person: open a file, type, select, undo, wait,
// panic, save; page through a long file, switch tabs, run commands in the terminal.
// Usage: node drive.js URL FILE_NAME LONG_FILE_NAME PROFILE_DIR OUT_JSON
// Writes what it saw (status bar labels, notifications, the line numbers the editor showed, tab
// labels) to OUT_JSON for the Python test to compare with the recording.
const fs = require("fs");
const { chromium } = require("playwright-core");

const [url, fileName, longFileName, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], notifications: [], steps: [], views: [], tabs: [] };

/** The line numbers the active editor shows (fully or partly), read from its gutter. */
async function visibleLines(page) {
  await page.waitForTimeout(700); // past the extension's 100 ms throttle and a render
  const numbers = await page
    .locator(".editor-group-container.active .monaco-editor .margin-view-overlays .line-numbers")
    .allInnerTexts();
  const lines = numbers.map((n) => parseInt(n, 10)).filter((n) => !Number.isNaN(n));
  const cursor = await page.locator("#status\\.editor\\.selection").first().innerText().catch(() => "");
  const view = { first: Math.min(...lines), last: Math.max(...lines), cursor };
  seen.views.push(view);
  return view;
}

async function openFile(page, name) {
  await page.keyboard.press("Control+P");
  await page.waitForSelector(".quick-input-widget", { state: "visible" });
  await page.keyboard.type(name);
  // Enter opens the focused row: wait until that is the file. Until Quick Open has filtered on
  // what was typed it lists recently opened files unfiltered, the current one focused and this one
  // below it; and the file search may still be indexing the folder.
  await page
    .locator(`.quick-input-list .monaco-list-row.focused:is([aria-label="${name}"], [aria-label^="${name},"])`)
    .waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
  await page.waitForSelector(`.tab.active[aria-label^="${name}"]`, { timeout: 30_000 });
  seen.tabs.push(await page.locator(".tab.active .label-name").first().innerText());
}

async function statusLabel(page) {
  const item = page.locator('[aria-label^="crowdcode:"]').first();
  await item.waitFor({ timeout: 60_000 });
  const label = await item.getAttribute("aria-label");
  seen.statusLabels.push(label);
  return label;
}

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget", { state: "visible" });
  await page.keyboard.type(title);
  await page.waitForTimeout(500);
  await page.keyboard.press("Enter");
}

(async () => {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
    seen.steps.push("workbench");
    await page.waitForSelector('[aria-label^="crowdcode: recording"]', { timeout: 90_000 });
    await statusLabel(page);
    seen.steps.push("recording");

    await openFile(page, fileName);
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30_000 });
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    seen.steps.push("opened");

    await page.keyboard.type("hello é🎉 world", { delay: 40 });
    await page.keyboard.press("Enter");
    await page.keyboard.type("second line", { delay: 40 });
    await page.waitForTimeout(400);
    await page.keyboard.press("Shift+Home"); // select "second line"
    await page.waitForTimeout(600);
    await page.keyboard.press("End");
    await page.keyboard.type(" typo", { delay: 40 });
    await page.waitForTimeout(400);
    await page.keyboard.press("Control+Z");
    await page.waitForTimeout(600);
    await page.keyboard.press("Control+Shift+Z"); // redo " typo", then delete it by hand
    await page.waitForTimeout(600);
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press("Backspace");
    }
    // Two cursors (lines 1 and 2), typing at both.
    await page.keyboard.press("Control+Home");
    await runCommand(page, "Add Cursor Below");
    await page.waitForTimeout(600);
    await page.keyboard.type("> ", { delay: 40 });
    await page.waitForTimeout(400);
    await page.keyboard.press("Escape");
    await page.waitForTimeout(400);
    seen.steps.push("edited");

    // Panic removes the last 10 s: wait longer than that, so that the edits above survive it.
    await page.waitForTimeout(11_500);
    await runCommand(page, "crowdcode: Panic");
    const toast = page.locator(".notifications-toasts .notification-list-item-message", { hasText: "removed" });
    await toast.first().waitFor({ timeout: 15_000 });
    seen.notifications.push(await toast.first().innerText());
    seen.steps.push("panic");

    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("!", { delay: 40 });
    // Replace All "line" with "row": two ranges away from the cursor, in one change.
    await page.keyboard.press("Control+H");
    await page.waitForSelector(".find-widget.visible .replace-part", { timeout: 10_000 });
    await page.keyboard.press("Control+A");
    await page.keyboard.type("line", { delay: 20 });
    await page.locator(".find-widget .replace-part textarea").first().focus();
    await page.keyboard.type("row", { delay: 20 });
    await page.waitForTimeout(500);
    await page.keyboard.press("Control+Alt+Enter");
    await page.waitForTimeout(800);
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+S");
    await page.waitForTimeout(2_000);
    await statusLabel(page);
    seen.steps.push("saved");

    // A 300-line file: PageDown three times, then the mouse wheel; each view as the gutter shows it.
    await openFile(page, longFileName);
    await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+Home");
    await visibleLines(page);
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press("PageDown");
      await visibleLines(page);
    }
    await page.mouse.move(600, 400);
    await page.mouse.wheel(0, 1200);
    await visibleLines(page);
    // Back to the first file (Quick Open), then Ctrl+Tab back to the long one.
    await openFile(page, fileName);
    await page.keyboard.press("Control+Tab");
    await page.waitForTimeout(300);
    await page.keyboard.press("Control");
    await page.waitForSelector(`.tab.active[aria-label^="${longFileName}"]`, { timeout: 10_000 });
    seen.tabs.push(await page.locator(".tab.active .label-name").first().innerText());
    await page.waitForTimeout(700);
    seen.steps.push("scrolled");

    // A command in the integrated terminal (bash, with VS Code's shell integration).
    await runCommand(page, "Terminal: Create New Terminal");
    await page.waitForSelector(".terminal-wrapper .xterm", { timeout: 30_000 });
    await page.waitForTimeout(4_000); // the shell starts and reports its integration
    // Output after a pause: what VS Code delivers in the same batch as the command's start is not
    // in execution.read() (docs/vscode.md, Terminals).
    await page.keyboard.type("sleep 1; echo crowdcode-e2e; (exit 3)", { delay: 20 });
    await page.keyboard.press("Enter");
    await page.waitForTimeout(3_000);
    await page.keyboard.type("sleep 1; seq 100", { delay: 20 });
    await page.keyboard.press("Enter");
    await page.waitForTimeout(2_000);
    // Another program changes the open, saved file: a reload, not the person's edit.
    await page.keyboard.type(`sed -i 's/second/2nd/' ${fileName}`, { delay: 20 });
    await page.keyboard.press("Enter");
    await page.waitForTimeout(3_000);
    // A branch that changes the open long file and adds two files.
    await page.keyboard.type("git checkout -q feature", { delay: 20 });
    await page.keyboard.press("Enter");
    await page.waitForTimeout(3_000);
    await runCommand(page, "File: Save All");
    await page.waitForTimeout(1_500);
    seen.steps.push("terminal");
    await page.screenshot({ path: outPath.replace(/\.json$/, ".png") });
  } catch (error) {
    seen.error = String(error && error.stack ? error.stack : error);
    seen.statusBar = await page.locator(".statusbar-item [aria-label]").evaluateAll((items) => items.map((i) => i.getAttribute("aria-label"))).catch(() => []);
    seen.toasts = await page.locator(".notification-list-item-message").allInnerTexts().catch(() => []);
    await page.screenshot({ path: outPath.replace(/\.json$/, ".png") }).catch(() => {});
  } finally {
    fs.writeFileSync(outPath, JSON.stringify(seen, null, 2));
    await context.close();
  }
})();
