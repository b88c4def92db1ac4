/** The model registry in memory: the DynamoDB repository's contract, for fast tests. */
import type { ModelRecord, ModelRepository } from '../domain/models.ts';

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryModelRepository implements ModelRepository {
  private readonly models = new Map<string, ModelRecord>();
  private readonly names = new Map<string, string>();

  async create(m: ModelRecord): Promise<boolean> {
    if (this.names.has(m.name)) return false;
    this.models.set(m.modelId, copy(m));
    this.names.set(m.name, m.modelId);
    return true;
  }

  async get(modelId: string): Promise<ModelRecord | undefined> {
    const m = this.models.get(modelId);
    return m && copy(m);
  }

  async byName(name: string): Promise<ModelRecord | undefined> {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.get(id);
  }

  async list(): Promise<ModelRecord[]> {
    return [...this.models.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(copy);
  }

  async replace(prev: ModelRecord, next: ModelRecord): Promise<'ok' | 'name-taken' | 'gone'> {
    const stored = this.models.get(prev.modelId);
    if (!stored) return 'gone';
    if (next.name !== stored.name && this.names.has(next.name)) return 'name-taken';
    this.names.delete(stored.name);
    this.names.set(next.name, next.modelId);
    // the running count is the dispatcher's: a replace never sets it
    this.models.set(next.modelId, { ...copy(next), active: stored.active });
    return 'ok';
  }

  async remove(m: ModelRecord): Promise<'ok' | 'busy' | 'gone'> {
    const stored = this.models.get(m.modelId);
    if (!stored) return 'gone';
    if (stored.active > 0) return 'busy';
    this.models.delete(m.modelId);
    this.names.delete(stored.name);
    return 'ok';
  }

  /** The stored model itself (the task repository takes and frees its workers in place). */
  peek(modelId: string): ModelRecord | undefined {
    return this.models.get(modelId);
  }
}
