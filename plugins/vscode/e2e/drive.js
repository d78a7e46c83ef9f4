// Drives code-server in headless Chromium like a person: open a file, type, select, undo, wait,
// panic, save; page through a long file, fold, split the editor, switch and close tabs, paste, run
// the stand-in agent's command (e2e/agent); run commands in the terminal; Save All.
// Usage: node drive.js URL FILE_NAME LONG_FILE_NAME TODO_FILE_NAME PROFILE_DIR OUT_JSON
// Writes what it saw (status bar labels, notifications, the line numbers the editor showed, tab
// labels) to OUT_JSON for the Python test to compare with the recording.
const { session, activeTab, openFile, statusLabel, runCommand, visibleLines } = require("./page");

const [url, fileName, longFileName, todoFileName, profileDir, outPath] = process.argv.slice(2);
const seen = { statusLabels: [], notifications: [], steps: [], views: [], tabs: [] };

session(url, profileDir, outPath, seen, async (page) => {
  await openFile(page, seen, fileName);
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
  await statusLabel(page, seen);
  seen.steps.push("saved");

  // A 300-line file: PageDown three times, then the mouse wheel; each view as the gutter shows it.
  await openFile(page, seen, longFileName);
  await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  await visibleLines(page, seen);
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press("PageDown");
    await visibleLines(page, seen);
  }
  await page.mouse.move(600, 400);
  await page.mouse.wheel(0, 1200);
  await visibleLines(page, seen);
  // Back to the first file (Quick Open), then Ctrl+Tab back to the long one.
  await openFile(page, seen, fileName);
  await page.keyboard.press("Control+Tab");
  await page.waitForTimeout(300);
  await page.keyboard.press("Control");
  await page.waitForSelector(`.tab.active[aria-label^="${longFileName}"]`, { timeout: 10_000 });
  seen.tabs.push(await activeTab(page));
  await page.waitForTimeout(700);
  seen.steps.push("scrolled");

  // A file of indented sections: fold the second section (Ctrl+Shift+[) while it is in view,
  // then PageDown; the gutter skips the folded lines.
  await openFile(page, seen, todoFileName);
  await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("ArrowDown");
  }
  await page.keyboard.press("Control+Shift+BracketLeft");
  await visibleLines(page, seen);
  await page.keyboard.press("PageDown");
  await visibleLines(page, seen);
  // Split the editor (Ctrl+\): the new group shows the same file and has the focus; page in it.
  await page.keyboard.press("Control+Backslash");
  await page.waitForFunction(() => document.querySelectorAll(".editor-group-container").length === 2);
  await page.keyboard.press("Control+End");
  await visibleLines(page, seen);
  await page.keyboard.press("PageUp");
  await visibleLines(page, seen);
  // The long file in the split; a click into the first group's editor; that group's tab closed
  // (its close button) — it then shows the long file; a click on the file's tab in the split.
  await openFile(page, seen, longFileName);
  await page.locator(".editor-group-container:not(.active) .monaco-editor .view-lines").first().click();
  await page.waitForSelector(`.editor-group-container.active .tab.active[aria-label^="${todoFileName}"]`);
  seen.tabs.push(await activeTab(page));
  await page.waitForTimeout(700);
  await page.locator(".editor-group-container.active .tab.active .tab-actions .action-label").first().click();
  await page.waitForSelector(`.editor-group-container.active .tab.active[aria-label^="${longFileName}"]`);
  seen.tabs.push(await activeTab(page));
  await page.waitForTimeout(700);
  await page.locator(`.editor-group-container:not(.active) .tab[aria-label^="${todoFileName}"]`).first().click();
  await page.waitForSelector(`.editor-group-container.active .tab.active[aria-label^="${todoFileName}"]`);
  seen.tabs.push(await activeTab(page));
  await page.waitForTimeout(700);
  seen.steps.push("split");

  // Copy the first line (Shift+End, Ctrl+C) and paste it at the end (Ctrl+V).
  await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("Shift+End");
  await page.keyboard.press("Control+C");
  await page.waitForTimeout(300);
  await page.keyboard.press("Control+End");
  await page.keyboard.press("Control+V");
  await page.waitForTimeout(700);
  seen.pasted = await page.evaluate(() => navigator.clipboard.readText());
  // The stand-in agent: a WorkspaceEdit from another extension, run from the command palette.
  await runCommand(page, "crowdcode e2e: Apply the Agent's Edit");
  await page.waitForTimeout(1_500);
  seen.steps.push("agent");

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
});
