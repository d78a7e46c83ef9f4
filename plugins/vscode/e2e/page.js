// What the real-VS-Code scripts (drive.js, record.js) do to code-server's page, as a person would,
// and what they read back from it (status bar, tab labels, the gutter's line numbers).
const fs = require("fs");
const { chromium } = require("playwright-core");

/** Headless Chromium on its own profile; the page may use the clipboard (copy and paste). */
async function launch(profileDir) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    permissions: ["clipboard-read", "clipboard-write"],
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  return { context, page: context.pages()[0] ?? (await context.newPage()) };
}

/** The workbench is up and the extension says it records. */
async function untilRecording(page, seen) {
  await page.waitForSelector(".monaco-workbench", { timeout: 90_000 });
  seen.steps.push("workbench");
  await page.waitForSelector('[aria-label^="crowdcode: recording"]', { timeout: 90_000 });
  await statusLabel(page, seen);
  seen.steps.push("recording");
}

/** The label of the focused editor group's active tab. */
async function activeTab(page) {
  return page.locator(".editor-group-container.active .tab.active .label-name").first().innerText();
}

/** Open Quick Open or the command palette with ``key``; pressed again, as a person would, when a
 * picker that was closing swallowed the key (seen after Ctrl+Tab on a loaded machine). */
async function quickInput(page, key) {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press(key);
    try {
      await page.waitForSelector(".quick-input-widget", { state: "visible", timeout: 5_000 });
      return;
    } catch (error) {
      if (attempt === 4) throw error;
    }
  }
}

async function openFile(page, seen, name) {
  await quickInput(page, "Control+P");
  await page.keyboard.type(name);
  // Enter opens the focused row: wait until that is the file. Until Quick Open has filtered on
  // what was typed it lists recently opened files unfiltered, the current one focused and this one
  // below it; and the file search may still be indexing the folder.
  // The row is told by its label, not its aria-label: an editor with unsaved changes adds to that.
  const label = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  await page
    .locator(".quick-input-list .monaco-list-row.focused", { has: page.locator(".label-name", { hasText: label }) })
    .waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
  await page.waitForSelector(`.editor-group-container.active .tab.active[aria-label^="${name}"]`, { timeout: 30_000 });
  seen.tabs.push(await activeTab(page));
}

async function statusLabel(page, seen) {
  const item = page.locator('[aria-label^="crowdcode:"]').first();
  await item.waitFor({ timeout: 60_000 });
  const label = await item.getAttribute("aria-label");
  seen.statusLabels.push(label);
  return label;
}

async function runCommand(page, title) {
  await quickInput(page, "F1");
  await page.keyboard.type(title);
  await page.waitForTimeout(500);
  await page.keyboard.press("Enter");
}

/** The line numbers the focused editor shows (fully or partly), read from its gutter: the first,
 * the last, and how many rows (fewer than last - first + 1 when lines in between are folded). */
async function visibleLines(page, seen) {
  await page.waitForTimeout(700); // past the extension's 100 ms throttle and a render
  const numbers = await page
    .locator(".editor-group-container.active .monaco-editor .margin-view-overlays .line-numbers")
    .allInnerTexts();
  const lines = numbers.map((n) => parseInt(n, 10)).filter((n) => !Number.isNaN(n));
  const cursor = await page.locator("#status\\.editor\\.selection").first().innerText().catch(() => "");
  const view = { file: await activeTab(page), first: Math.min(...lines), last: Math.max(...lines), rows: lines.length, cursor };
  seen.views.push(view);
  return view;
}

/** Open the workbench at URL until the extension records, then run ``steps(page)``; write what was
 * seen to OUT_PATH whatever happens (an error with the status bar, the notifications and a
 * screenshot next to it). */
async function session(url, profileDir, outPath, seen, steps) {
  const { context, page } = await launch(profileDir);
  try {
    await page.goto(url);
    await untilRecording(page, seen);
    await steps(page);
  } catch (error) {
    seen.error = String(error && error.stack ? error.stack : error);
    seen.statusBar = await page.locator(".statusbar-item [aria-label]").evaluateAll((items) => items.map((i) => i.getAttribute("aria-label"))).catch(() => []);
    seen.toasts = await page.locator(".notification-list-item-message").allInnerTexts().catch(() => []);
    await page.screenshot({ path: outPath.replace(/\.json$/, ".png") }).catch(() => {});
  } finally {
    fs.writeFileSync(outPath, JSON.stringify(seen, null, 2));
    await context.close();
  }
}

module.exports = { session, activeTab, openFile, statusLabel, runCommand, visibleLines };
