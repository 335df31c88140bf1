// The platform's side of plugin-db's HTTP API, with nothing but fetch.
// Every call sends the bearer token; errors are RFC 9457 problem documents.

export type Operation = {
  operation_id: number;
  plugin_id: string;
  kind: string;
  state: string;
  error: string | null;
};

export type Connection = {
  plugin_id: string;
  url: string;
  env: { PLUGIN_DATABASE_URL: string };
  provider: string;
  schema: string | null;
  database: string | null;
  username: string | null;
  generation: number;
};

const TERMINAL = new Set(["succeeded", "failed", "rejected"]);

export class PluginDb {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const answer = await fetch(new URL(path, this.base), {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!answer.ok) {
      const problem = await answer.text();
      throw new Error(`${method} ${path}: ${answer.status} ${problem}`);
    }
    return (await answer.json()) as T;
  }

  /** Ask for the plugin's storage; the same idempotency key never provisions twice. */
  provision(pluginId: string, manifest: unknown, key: string): Promise<Operation> {
    return this.call("POST", `/api/plugins/${pluginId}/provision`, { manifest }, { "Idempotency-Key": key });
  }

  /** Register the plugin's declarative schema (its tables, enums and relationships). */
  registerSchema(pluginId: string, document: unknown, key: string): Promise<Operation> {
    return this.call("POST", `/api/extensions/${pluginId}/schema`, document, { "Idempotency-Key": key });
  }

  /** Poll the operation until it is succeeded, failed or rejected. */
  async wait(op: Operation, timeoutMs = 120_000): Promise<Operation> {
    const deadline = Date.now() + timeoutMs;
    let current = op;
    while (!TERMINAL.has(current.state)) {
      if (Date.now() > deadline) throw new Error(`operation ${op.operation_id} is still ${current.state}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      current = await this.call<Operation>("GET", `/api/operations/${op.operation_id}`);
    }
    if (current.state !== "succeeded") {
      throw new Error(`operation ${op.operation_id} ${current.kind}: ${current.state}: ${current.error}`);
    }
    return current;
  }

  /** The connection the plugin's runtime gets (PLUGIN_DATABASE_URL and what it is made of). */
  connection(pluginId: string): Promise<Connection> {
    return this.call("GET", `/api/plugins/${pluginId}/connection`);
  }
}
