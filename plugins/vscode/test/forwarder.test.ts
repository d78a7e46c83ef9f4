import assert from "node:assert/strict";
import { test } from "node:test";

import { Forwarder, MAX_OUTPUT_CHUNK } from "../src/logic/forwarder";
import { Throttle } from "../src/logic/throttle";
import { FakeTimers } from "./fakeTimers";

function setup() {
  const timers = new FakeTimers();
  const sent: [string, any][] = [];
  const forwarder = new Forwarder((method, params) => sent.push([method, params]), { throttleMs: 100, outputMs: 200 }, timers);
  return { timers, sent, forwarder };
}

const at = (line: number, character: number) => ({ line, character });

test("selections are sent on the trailing edge only, latest value, at most once per interval", () => {
  const { timers, sent, forwarder } = setup();
  for (let i = 0; i < 50; i++) {
    forwarder.selection("file:///a", [{ anchor: at(0, i), active: at(0, i) }]);
    timers.advance(5); // typing: a keystroke every 5 ms
  }
  // 250 ms of typing: nothing on the typing path, one update per 100 ms.
  assert.equal(sent.length, 2);
  timers.advance(100);
  assert.equal(sent.length, 3);
  assert.deepEqual(sent.at(-1), ["crowdcode/selection", { uri: "file:///a", selections: [{ anchor: at(0, 49), active: at(0, 49) }] }]);
  assert.equal(timers.pending, 0);
});

test("selections of different documents do not overwrite each other", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.selection("file:///a", [{ anchor: at(1, 0), active: at(1, 2) }], "char");
  forwarder.selection("file:///b", [{ anchor: at(2, 0), active: at(2, 0) }]);
  timers.advance(100);
  assert.deepEqual(
    sent.map(([, p]) => p.uri),
    ["file:///a", "file:///b"],
  );
  assert.equal(sent[0][1].mode, "char");
  assert.equal("mode" in sent[1][1], false);
});

test("an editor switch sends what is pending for the previous editor first, then itself at once", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.visibleRanges("file:///a", [{ start: at(0, 0), end: at(30, 0) }]);
  forwarder.selection("file:///a", [{ anchor: at(3, 0), active: at(3, 0) }]);
  forwarder.activeEditor("file:///b");
  assert.deepEqual(
    sent.map(([m]) => m),
    ["crowdcode/selection", "crowdcode/visibleRanges", "crowdcode/activeEditor"],
  );
  forwarder.activeEditor("file:///b"); // unchanged: nothing
  forwarder.activeEditor(null);
  assert.deepEqual(sent.at(-1), ["crowdcode/activeEditor", { uri: null }]);
  timers.advance(1000);
  assert.equal(sent.length, 4);
});

test("empty selections and ranges are not sent", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.selection("file:///a", []);
  forwarder.visibleRanges("file:///a", []);
  timers.advance(500);
  assert.equal(sent.length, 0);
});

test("terminal output is gathered per terminal and flushed before the command ends", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.terminalCommand("terminal-1", "bash", "make", "/w");
  forwarder.terminalOutput("terminal-1", "a");
  forwarder.terminalOutput("terminal-1", "b");
  forwarder.terminalOutput("terminal-2", "x");
  timers.advance(199);
  assert.equal(sent.length, 1);
  forwarder.terminalCommandEnd("terminal-1", "bash", 2, "make");
  assert.deepEqual(sent.slice(1), [
    ["crowdcode/terminalOutput", { terminalId: "terminal-1", data: "ab" }],
    ["crowdcode/terminalOutput", { terminalId: "terminal-2", data: "x" }],
    ["crowdcode/terminalCommandEnd", { terminalId: "terminal-1", name: "bash", exitCode: 2, command: "make" }],
  ]);
  assert.deepEqual(sent[0], ["crowdcode/terminalCommand", { terminalId: "terminal-1", name: "bash", command: "make", cwd: "/w" }]);
});

test("huge output is sent in bounded chunks, one per interval", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.terminalOutput("t", "z".repeat(MAX_OUTPUT_CHUNK * 2 + 10));
  timers.advance(200);
  assert.equal(sent.length, 1);
  assert.equal(sent[0][1].data.length, MAX_OUTPUT_CHUNK);
  timers.advance(400);
  assert.deepEqual(
    sent.map(([, p]) => p.data.length),
    [MAX_OUTPUT_CHUNK, MAX_OUTPUT_CHUNK, 10],
  );
});

test("a command end without exit code leaves it out; focus and terminal focus go at once", () => {
  const { sent, forwarder } = setup();
  forwarder.terminalCommandEnd("t", "zsh", undefined);
  forwarder.focus(false);
  forwarder.terminalFocus("t", "zsh");
  assert.deepEqual(sent, [
    ["crowdcode/terminalCommandEnd", { terminalId: "t", name: "zsh" }],
    ["crowdcode/focus", { focused: false }],
    ["crowdcode/terminalFocus", { terminalId: "t", name: "zsh" }],
  ]);
});

test("dispose cancels everything pending", () => {
  const { timers, sent, forwarder } = setup();
  forwarder.selection("file:///a", [{ anchor: at(0, 0), active: at(0, 0) }]);
  forwarder.terminalOutput("t", "x");
  forwarder.dispose();
  timers.advance(1000);
  assert.equal(sent.length, 0);
  assert.equal(timers.pending, 0);
});

test("throttle flush delivers at once and does not deliver twice", () => {
  const timers = new FakeTimers();
  const got: string[] = [];
  const throttle = new Throttle<string>(100, (key, value) => got.push(`${key}=${value}`), timers);
  throttle.push("k", "1");
  throttle.flush();
  timers.advance(200);
  assert.deepEqual(got, ["k=1"]);
});
