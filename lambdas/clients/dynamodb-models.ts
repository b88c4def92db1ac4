/**
 * The model registry in the task table: `MODEL#<id>` items, listed through the byCreated index
 * under their own partition, and a `MODELNAME#<name>` item per name that makes names unique (a name
 * is claimed and released in the same transaction as the model). Removing a model never deletes an
 * item (the functions may not): the model becomes a tombstone that reads as gone and its name is
 * released, on condition that none of its tasks run.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ModelRecord, ModelRepository } from '../domain/models.ts';
import { createdKey, INDEXES, MODEL_LANES_PK, MODEL_LIST_PK, modelNamePk, modelPk } from './task-table.ts';

type Doc = Pick<DynamoDBDocumentClient, 'send'>;
type TxItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The fields of a model record as stored, without the table's own attributes. */
const INTERNAL = new Set(['pk', 'listPk', 'createdKey', 'deleted', 'registeredBy']);
function toRecord(item: Record<string, unknown> | undefined): ModelRecord | undefined {
  if (!item || item.deleted) return undefined;
  return {
    ...Object.fromEntries(Object.entries(item).filter(([k]) => !INTERNAL.has(k))),
    owner: item.registeredBy,
  } as unknown as ModelRecord;
}

/** Which items of a cancelled transaction failed their condition (in the order given). */
function failedConditions(e: unknown): boolean[] | undefined {
  if (!(e instanceof Error) || e.name !== 'TransactionCanceledException') return undefined;
  const reasons = (e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
  return reasons?.map((r) => r.Code === 'ConditionalCheckFailed');
}

/** The settings a replace writes (never the identity, the owner or the dispatcher's running count). */
const SETTINGS = [
  'name',
  'type',
  'baseUrl',
  'model',
  'defaults',
  'maxWorkers',
  'apiKey',
  'prices',
  'status',
  'updatedAt',
] as const;

export class DynamoModelRepository implements ModelRepository {
  constructor(
    private readonly doc: Doc,
    private readonly tableName: string,
  ) {}

  private claimName(name: string, modelId: string): TxItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: { pk: modelNamePk(name), modelId },
        // free: never claimed, or released by a model that was renamed or removed
        ConditionExpression: 'attribute_not_exists(pk) OR attribute_not_exists(modelId)',
      },
    };
  }

  private releaseName(name: string, modelId: string): TxItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: modelNamePk(name) },
        UpdateExpression: 'REMOVE modelId',
        ConditionExpression: 'modelId = :id',
        ExpressionAttributeValues: { ':id': modelId },
      },
    };
  }

  async create(m: ModelRecord): Promise<boolean> {
    const { owner, ...rest } = m;
    const item = {
      pk: modelPk(m.modelId),
      ...rest,
      // not `owner`: with createdKey that would put the model in the tasks' byOwner index
      registeredBy: owner,
      listPk: MODEL_LIST_PK,
      createdKey: createdKey({ createdAt: m.createdAt, taskId: m.modelId }),
    };
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            this.claimName(m.name, m.modelId),
            {
              Put: { TableName: this.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' },
            },
            // its queue lane, listed where a consistent read finds it at once
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: MODEL_LANES_PK },
                UpdateExpression: 'ADD modelIds :id',
                ExpressionAttributeValues: { ':id': new Set([m.modelId]) },
              },
            },
          ],
        }),
      );
      return true;
    } catch (e) {
      if (failedConditions(e)?.[0]) return false;
      throw e;
    }
  }

  async get(modelId: string): Promise<ModelRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: modelPk(modelId) }, ConsistentRead: true }),
    );
    return toRecord(r.Item);
  }

  async byName(name: string): Promise<ModelRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: modelNamePk(name) }, ConsistentRead: true }),
    );
    const id = r.Item?.modelId as string | undefined;
    return id === undefined ? undefined : this.get(id);
  }

  async list(): Promise<ModelRecord[]> {
    const out: ModelRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEXES.byCreated.indexName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': INDEXES.byCreated.partitionKey },
          ExpressionAttributeValues: { ':pk': MODEL_LIST_PK },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of r.Items ?? []) {
        const m = toRecord(item);
        if (m) out.push(m);
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async replace(prev: ModelRecord, next: ModelRecord): Promise<'ok' | 'name-taken' | 'gone'> {
    const set = SETTINGS.filter((k) => next[k] !== undefined);
    const remove = SETTINGS.filter((k) => next[k] === undefined);
    const update: TxItem = {
      Update: {
        TableName: this.tableName,
        Key: { pk: modelPk(prev.modelId) },
        UpdateExpression: [
          `SET ${set.map((k) => `#${k} = :${k}`).join(', ')}`,
          remove.length ? `REMOVE ${remove.map((k) => `#${k}`).join(', ')}` : '',
        ].join(' '),
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deleted)',
        ExpressionAttributeNames: Object.fromEntries(SETTINGS.map((k) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(set.map((k) => [`:${k}`, next[k]])),
      },
    };
    const renamed = next.name !== prev.name;
    const items = renamed
      ? [update, this.claimName(next.name, prev.modelId), this.releaseName(prev.name, prev.modelId)]
      : [update];
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return 'ok';
    } catch (e) {
      const failed = failedConditions(e);
      if (failed?.[0] || failed?.[2]) return 'gone';
      if (failed?.[1]) return 'name-taken';
      throw e;
    }
  }

  async remove(m: ModelRecord): Promise<'ok' | 'busy' | 'gone'> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: { pk: modelPk(m.modelId) },
                // off the list; its queue lane stays in the lane set, so its waiting tasks are found and end
                UpdateExpression: 'SET deleted = :t REMOVE listPk',
                ConditionExpression:
                  'attribute_exists(pk) AND attribute_not_exists(deleted) AND (attribute_not_exists(active) OR active = :zero)',
                ExpressionAttributeValues: { ':t': true, ':zero': 0 },
              },
            },
            this.releaseName(m.name, m.modelId),
          ],
        }),
      );
      return 'ok';
    } catch (e) {
      if (!failedConditions(e)) throw e;
      return (await this.get(m.modelId)) ? 'busy' : 'gone';
    }
  }
}
