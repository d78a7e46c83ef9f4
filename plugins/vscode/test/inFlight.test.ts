import assert from "node:assert/strict";
import { test } from "node:test";

import { InFlight } from "../src/logic/inFlight";

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test("the barrier's answer waits for every change taken in before it, and no later one", async () => {
  const inFlight = new InFlight();
  const first = deferred();
  const second = deferred();
  const order: string[] = [];
  inFlight.track(first.promise.then(() => order.push("first change sent")));
  inFlight.track(second.promise.then(() => order.push("second change sent")));
  const answered = inFlight.settled().then(() => order.push("barrier answered"));
  const later = deferred();
  inFlight.track(later.promise.then(() => order.push("later change sent")));
  second.resolve();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ["second change sent"]);
  first.resolve();
  await answered;
  assert.deepEqual(order, ["second change sent", "first change sent", "barrier answered"]);
  later.resolve();
  await inFlight.settled();
  assert.equal(inFlight.size, 0);
});

test("a change whose sending failed does not hold the barrier", async () => {
  const inFlight = new InFlight();
  const failing = deferred();
  const tracked = inFlight.track(failing.promise);
  failing.reject(new Error("connection closed"));
  await assert.rejects(tracked);
  await inFlight.settled();
  assert.equal(inFlight.size, 0);
});

test("with nothing in flight the barrier is answered at once", async () => {
  const inFlight = new InFlight();
  await inFlight.settled();
  assert.equal(inFlight.size, 0);
});

test("changes are passed on in the order they were taken in, whichever reason is ready first", async () => {
  const inFlight = new InFlight();
  const slowReason = deferred();
  const order: string[] = [];
  const first = inFlight.inOrder(async () => {
    await slowReason.promise; // the first change of a clean document: its file is read
    order.push("first change sent");
  });
  const second = inFlight.inOrder(async () => {
    order.push("second change sent");
  });
  const answered = inFlight.settled().then(() => order.push("barrier answered"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, []);
  slowReason.resolve();
  await Promise.all([first, second, answered]);
  assert.deepEqual(order, ["first change sent", "second change sent", "barrier answered"]);
});

test("a change whose work failed does not hold back the next", async () => {
  const inFlight = new InFlight();
  const failed = inFlight.inOrder(async () => {
    throw new Error("no reason");
  });
  await assert.rejects(failed);
  assert.equal(await inFlight.inOrder(async () => "sent"), "sent");
});
