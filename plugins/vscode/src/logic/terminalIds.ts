/** Stable ids for terminals ("terminal-1", …), as crowd-code names them; VS Code gives none. */
export class TerminalIds<T extends object> {
  private readonly ids = new WeakMap<T, string>();
  private next = 1;

  id(terminal: T): string {
    let id = this.ids.get(terminal);
    if (id === undefined) {
      id = `terminal-${this.next++}`;
      this.ids.set(terminal, id);
    }
    return id;
  }
}
