/**
 * The document changes the extension's middleware still holds, for the server's barrier.
 *
 * The recorder asks `crowdcode/sync` when a write reaches the disk before the changes and save
 * that explain it: JSON-RPC over one stream is ordered, so once the answer is back, every change
 * sent before it has arrived (docs/lsp.md, "The barrier"). The middleware awaits the edit reason
 * (a file or clipboard read) before it passes a change on, and vscode-jsonrpc would answer the
 * request meanwhile; so the extension answers it itself, once every change it took in before the
 * request has been passed on.
 *
 * It also keeps them in VS Code's order: a change whose reason needs a read (the first change of a
 * clean document reads the file) must not be overtaken by the next keystroke's, whose reason
 * needs none. The server applies changes in the order they arrive; an overtaking change would be
 * applied to a text it was not made on (seen in code-server: the second character of a word typed
 * after a save arrived first).
 */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();
  private last: Promise<unknown> = Promise.resolve();

  /** Run ``work`` once the work passed in before it has settled, and track it; returns it. */
  inOrder<T>(work: () => Promise<T>): Promise<T> {
    const run = this.last.then(work, work);
    this.last = run.catch(() => undefined);
    return this.track(run);
  }

  /** Track ``work`` (a change on its way to the server) until it settles; returns it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    const forget = () => {
      this.pending.delete(work);
    };
    work.then(forget, forget);
    return work;
  }

  /** Resolves once everything tracked so far has settled, whether it succeeded or not. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  get size(): number {
    return this.pending.size;
  }
}
