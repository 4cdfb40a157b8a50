import type { LoggedEvent, TaskEventBody, TokenUsage } from '../core/events/event-types.js';
import type { Agent } from '../core/agents/agent-types.js';
import type { Artifact, ArtifactVersion, NewVersion } from '../core/artifacts/artifact-types.js';
import type { Message, Task } from '../core/tasks/task-types.js';
import type { EndUserCaller, EndUserScope, WidgetAppRecord } from '../core/widgets/widget-types.js';
import type { AttemptOutcome, DueDelivery, WebhookDelivery, WebhookEndpoint } from '../core/webhooks/webhook-types.js';

/**
 * Storage contracts the core depends on. Each method that changes more than one row does so
 * in one transaction, so a crash never leaves half of a change behind.
 */
export interface Storage {
  users: UserStore;
  tasks: TaskStore;
  agents: AgentStore;
  artifacts: ArtifactStore;
  widgets: WidgetStore;
  idempotency: IdempotencyStore;
  webhooks: WebhookStore;
  rateLimits: RateLimitStore;
  retention: RetentionStore;
  close(): Promise<void>;
}

export interface AgentStore {
  create(agent: Agent): Promise<void>;
  get(userId: string, id: string): Promise<Agent | undefined>;
  list(userId: string): Promise<Agent[]>;
  update(agent: Agent): Promise<void>;
  /** The user's default agent, created on first use. */
  ensureDefault(userId: string, now: string): Promise<Agent>;
}

/** A filter of the versions of a user's artifacts, newest or oldest first, after a cursor. */
export interface VersionQuery {
  userId: string;
  agentId: string;
  taskId?: string;
  /** Case-insensitive substring of the file name. */
  search?: string;
  order: 'newest' | 'oldest';
  limit: number;
  after?: { createdAt: string; versionId: string };
}

export interface ArtifactQuery {
  userId: string;
  workflowId?: string;
  phaseId?: string;
  artifactType?: string;
  limit: number;
}

export interface ArtifactStore {
  /**
   * Records a new state of an artifact, creating the artifact when needed. Content equal to the
   * latest version adds no version. Returns the artifact with its latest version.
   */
  recordVersion(input: NewVersion, now: string): Promise<{ artifact: Artifact; created: boolean }>;
  /** Workspace files of a task as last recorded: path → what was seen. */
  observedFiles(taskId: string): Promise<Map<string, { size: number | null; mtimeMs: number | null; artifactId: string; deleted: boolean }>>;
  /** Marks workspace files of a task as gone (their versions stay). */
  markDeleted(taskId: string, paths: readonly string[], now: string): Promise<void>;
  /** The task's current files (not deleted), each with its latest version. */
  listForTask(taskId: string): Promise<Artifact[]>;
  findByPath(taskId: string, path: string): Promise<Artifact | undefined>;
  get(userId: string, id: string): Promise<Artifact | undefined>;
  /** Artifacts of the user whose id starts with `prefix` (at most `limit`). */
  findByPrefix(userId: string, prefix: string, limit: number): Promise<Artifact[]>;
  version(artifactId: string, number: number): Promise<ArtifactVersion | undefined>;
  /** Every version of an artifact, newest first. */
  versions(artifactId: string): Promise<ArtifactVersion[]>;
  versionById(versionId: string): Promise<{ version: ArtifactVersion; artifact: Artifact } | undefined>;
  listVersions(query: VersionQuery): Promise<{ version: ArtifactVersion; artifact: Artifact }[]>;
  list(query: ArtifactQuery): Promise<Artifact[]>;
  isBlobReferenced(sha256: string): Promise<boolean>;
}

export interface User {
  id: string;
  name: string;
}

/**
 * Who a request acts for: the key presented, its user, and whether the key may manage others'
 * keys. A widget token acts for the app owner's user, with no key, scoped to one end user.
 */
export interface KeyOwner {
  /** Null for a widget token. */
  apiKeyId: string | null;
  userId: string;
  username: string;
  admin: boolean;
  /** Set for a widget token: the caller sees only this end user's tasks of this app. */
  endUser?: EndUserCaller;
}

/** An API key as listed: never the key itself, nor its hash. */
export interface ApiKeyRecord {
  id: string;
  name: string | null;
  userId: string;
  admin: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface UserSummary {
  id: string;
  name: string;
  createdAt: string;
  /** Keys of the user that are not revoked. */
  keyCount: number;
}

export interface NewApiKey {
  id: string;
  userId: string;
  hash: string;
  name: string | null;
  admin: boolean;
  source: 'cli' | 'env' | 'api';
  now: string;
}

export interface UserStore {
  /** Returns the user called `name`, creating it on first use. */
  ensureUser(name: string, now: string): Promise<User>;
  /** A user by id, or else by name. */
  findUser(idOrName: string): Promise<User | undefined>;
  /** Every user, oldest first, with the number of live keys each holds. */
  listUsers(): Promise<UserSummary[]>;
  insertKey(key: NewApiKey): Promise<void>;
  /**
   * Makes `hash` the only key that came from the environment (or removes it when null); it is
   * an admin key. A revoked environment key stays revoked while the same value is configured.
   */
  replaceEnvKey(hash: string | null, userId: string, now: string): Promise<{ revoked: boolean }>;
  /** The owner of a live (not revoked) key, with when it was last recorded as used. */
  findKey(hash: string): Promise<(KeyOwner & { apiKeyId: string; lastUsedAt: string | null }) | undefined>;
  /** The owner of a live key, by the key's id (for sessions, which name their key by id). */
  findKeyById(id: string): Promise<KeyOwner | undefined>;
  /** Records a use of the key unless one at or after `staleBefore` is already recorded. */
  touchKey(id: string, now: string, staleBefore: string): Promise<void>;
  /** Live keys, oldest first: of one user, or of every user when `userId` is null. */
  listKeys(userId: string | null): Promise<ApiKeyRecord[]>;
  /**
   * Revokes a live key (of `userId` only, unless null). Returns false when there is no such
   * live key. A revoked key is refused from then on by every process: lookups read the database.
   */
  revokeKey(id: string, userId: string | null, now: string): Promise<boolean>;
}

/** Widget apps (their env and secrets sealed) and the sealed variables of the tokens they issued. */
export interface WidgetStore {
  createApp(app: WidgetAppRecord): Promise<void>;
  /** An app by id, with its owner's user name. */
  getApp(id: string): Promise<(WidgetAppRecord & { username: string }) | undefined>;
  /** The user's apps, oldest first. */
  listApps(userId: string): Promise<WidgetAppRecord[]>;
  /** Saves an app's settings (name, origins, agent, autoExecute, sealed variables, secret and its generation). */
  updateApp(app: WidgetAppRecord): Promise<void>;
  /** Deletes the user's app and the variables of every token it issued; false when there is no such app. */
  deleteApp(id: string, userId: string): Promise<boolean>;
  /** Forgets the variables of every token of the app (its tokens no longer work). */
  forgetTokens(appId: string): Promise<void>;
  /** Keeps a token's sealed variables until it expires; removes those of tokens that expired before `now`. */
  saveTokenVariables(token: { id: string; appId: string; sealed: string; expiresAt: string }, now: string): Promise<void>;
  tokenVariables(tokenId: string): Promise<string | undefined>;
}

/** Identifies the turn a writer believes it owns; writes are refused once that is no longer true. */
export interface TurnFence {
  taskId: string;
  turn: number;
  /** When set, the worker lease must still be held by this owner. */
  leaseOwner?: string;
  /** When set, that lease must have run out before this time (taking over from a dead worker). */
  leaseExpiredBefore?: string;
}

/** How a turn ends: the task's new state, its terminal event and the assistant message to keep. */
export interface TurnEnding {
  status: 'completed' | 'failed' | 'cancelled';
  error: string | null;
  terminal: TaskEventBody;
  assistant: Omit<Message, 'seq' | 'turn' | 'createdAt'> | null;
}

/** A change to a turn that is still open: events to log, and optionally a new state for the task. */
export interface TurnAmendment<T> {
  events: TaskEventBody[];
  /** `awaiting_approval` parks the turn; `running` puts it back in the queue for any worker. */
  status?: 'awaiting_approval' | 'running';
  result: T;
}

/** Which of a user's tasks to list. */
export interface TaskFilter {
  /** Only this end user's tasks (a widget token's caller). */
  endUser?: EndUserScope;
  status?: Task['status'];
  /** Case-insensitive text in the first message, or the start of the task id. */
  text?: string;
}

/** One model step's token usage, with when it was logged and the task's agent. */
export interface UsageRecord {
  agentId: string | null;
  at: string;
  usage: TokenUsage;
}

/** A task as a stream of it starts: see {@link TaskStore.getWithHistory}. */
export interface TaskWithHistory {
  task: Task;
  messages: Message[];
  lastEvent: LoggedEvent | undefined;
  /** While a turn executes: its first logged events, as many as were asked for. */
  turnEvents: LoggedEvent[];
}

/** A turn taken by {@link TaskStore.claimNext}: the task, and its agent as the claim found it. */
export interface ClaimedTurn {
  task: Task;
  /** Undefined when no agent of the task's user has its id. */
  agent: Agent | undefined;
  /**
   * The task's whole model conversation when it holds a single message (a first turn not yet
   * begun), as {@link TaskStore.recentModelMessages} would read it; undefined otherwise.
   */
  conversation: ModelMessageRow[] | undefined;
}

/** A claim on a turn: which worker holds it, and until when unless renewed. */
export interface TurnLease {
  owner: string;
  until: string;
}

/** A stored model message: its place in the conversation, its turn, and the message as the model reads it. */
export interface ModelMessageRow {
  seq: number;
  turn: number;
  body: unknown;
}

export interface TaskStore {
  /**
   * Stores a new task with its first user message, queued for a worker; `modelMessage` is that
   * message as the model reads it (the first model message of turn 1). Where the database carries
   * notifications, the same write tells the other processes (see {@link TaskSignals.queuedHere}).
   * With `agentRevision`, only while the task's agent is at that revision: when it is not, nothing
   * is written and the result is false. With `lease`, its first turn is stored as claimed by that
   * owner instead (a worker of the creating process takes it at once): not queued, not announced.
   */
  create(task: Task, firstMessage: Message, modelMessage: unknown, agentRevision?: number, lease?: TurnLease): Promise<boolean>;
  /** The task; of that user only when `userId` is given, and of that end user only when `endUser` is. */
  get(id: string, userId?: string, endUser?: EndUserScope): Promise<Task | undefined>;
  /**
   * {@link TaskStore.get}, with the task's messages, its last logged event and, while a turn
   * executes, up to `turnEvents` of that turn's first events, in one read (a stream of a task
   * starts from them).
   */
  getWithHistory(id: string, userId: string, endUser?: EndUserScope, turnEvents?: number): Promise<TaskWithHistory | undefined>;
  /** A page of the user's tasks, latest activity first, optionally only those matching `filter`. */
  list(userId: string, limit: number, offset: number, filter?: TaskFilter): Promise<{ tasks: Task[]; total: number }>;
  /** The usage events of the user's tasks logged at or after `since`, with each task's agent. */
  usageEvents(userId: string, since: string): Promise<UsageRecord[]>;
  /** The user's tasks created at or after `since`. */
  createdSince(userId: string, since: string): Promise<{ agentId: string | null; createdAt: string }[]>;
  messages(taskId: string): Promise<Message[]>;
  /**
   * Opens the next turn of an idle task with a new user message and queues it; `modelMessage` is
   * that message as the model reads it; `secretsHolder` is the process holding that turn's
   * secrets (null: the turn has none). Tells the other processes as {@link TaskStore.create} does.
   * Returns the updated task, 'busy' when the task is still executing, or undefined when not found.
   */
  startFollowUp(
    taskId: string,
    userId: string,
    message: Omit<Message, 'seq' | 'turn'>,
    now: string,
    secretsHolder: string | null,
    modelMessage: unknown,
    traceParent?: string | null,
  ): Promise<Task | 'busy' | undefined>;

  /**
   * Takes a queued turn for `owner` until `leaseUntil` and marks it running. Users are served
   * fairly: the turn taken is the oldest queued one of the user with the fewest turns running
   * (anywhere), skipping users that already have `perUserLimit` turns held by this owner.
   */
  claimNext(owner: string, leaseUntil: string, now: string, perUserLimit?: number): Promise<ClaimedTurn | undefined>;
  renewLeases(owner: string, taskIds: readonly string[], leaseUntil: string): Promise<void>;
  /**
   * Gives the fenced turn back to the queue (its worker is stopping): the lease is dropped and
   * any worker may claim it again. Returns false when the fence no longer holds.
   */
  releaseTurn(fence: TurnFence, now: string): Promise<boolean>;
  /** Number of tasks in each status. */
  statusCounts(): Promise<Record<string, number>>;
  /** Turns queued and not claimed, and when the oldest was queued. */
  queueStats(): Promise<{ depth: number; oldestQueuedAt: string | null }>;
  /** Turns held by a worker lease that ran out before `now` (every held turn when `now` is null). */
  abandonedTurns(now: string | null): Promise<{ task: Task; leaseOwner: string }[]>;

  /**
   * Appends events to the task's log; throws {@link TurnLost} when the fence no longer holds.
   * `lastSeq` is the writer's own count of the task's last event: while it holds, the events are
   * written in one step (one round trip on PostgreSQL), else as usual.
   */
  appendEvents(fence: TurnFence, events: readonly TaskEventBody[], now: string, lastSeq?: number): Promise<LoggedEvent[]>;
  eventsAfter(taskId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]>;
  /** The sequence number of each task's latest event. */
  lastEventSeqs(taskIds: readonly string[]): Promise<Map<string, number>>;
  /**
   * Ends the fenced turn: `decide` sees the turn's events and says how it ends. What the worker
   * still had to write (`carried`: its last events, its last model messages) is written in the
   * same transaction, before the terminal event. Returns the events written, the terminal event
   * last, or undefined when the fence no longer holds (someone else ended it). `current` is the
   * worker's copy of the task row as its own writes left it (its claim, then its events): the row
   * is then not read and locked first, the end being written only if the copy is still current
   * (the store reads and locks the row as usual when it is not).
   */
  endTurn(
    fence: TurnFence,
    decide: (turnEvents: LoggedEvent[], task: Task) => TurnEnding,
    now: string,
    carried?: TurnCarry,
    current?: Task,
  ): Promise<LoggedEvent[] | undefined>;

  /**
   * Reads the fenced turn's events and applies what `decide` returns, in one transaction.
   * `decide` may throw to refuse the change. Parking (`awaiting_approval`) releases the worker's
   * lease; `running` queues the turn again. Returns undefined when the fence no longer holds.
   */
  amendTurn<T>(
    fence: TurnFence,
    decide: (turnEvents: LoggedEvent[], task: Task) => TurnAmendment<T>,
    now: string,
  ): Promise<{ result: T; events: LoggedEvent[] } | undefined>;
  /** Every event of the given types over all the task's turns, oldest first. */
  eventsOfType(taskId: string, types: readonly TaskEventBody['type'][]): Promise<LoggedEvent[]>;

  appendModelMessages(fence: TurnFence, messages: readonly unknown[]): Promise<void>;
  /** Up to `limit` saved model messages before `beforeSeq` (null: the newest), newest first. */
  recentModelMessages(taskId: string, beforeSeq: number | null, limit: number): Promise<ModelMessageRow[]>;
}

/** What a worker writes together with the end of its turn. */
export interface TurnCarry {
  events?: readonly TaskEventBody[];
  modelMessages?: readonly unknown[];
}

/** The writer's turn was ended or taken over by someone else; it must stop writing. */
export class TurnLost extends Error {
  override name = 'TurnLost';
  constructor(readonly taskId: string) {
    super(`task ${taskId}: this worker no longer owns the turn`);
  }
}

/** The answer recorded for an idempotent request, replayed to a repeat of it. */
export interface StoredAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** A request of one user under one `Idempotency-Key`, as recorded. */
export interface IdempotencyRecord {
  fingerprint: string;
  /** The answer, once the first request has one; null while it is being worked on. */
  answer: StoredAnswer | null;
  /** While being worked on: until when its worker's claim holds. */
  lockedUntil: string | null;
}

export interface IdempotencyStore {
  /**
   * Claims `key` of `userId` for `owner` until `lockedUntil`: when no live record holds it (none,
   * one expired before `now`, or one whose worker's claim ran out before `now` with the same
   * fingerprint). Returns null when claimed, else the record that holds the key.
   */
  claim(userId: string, key: string, fingerprint: string, owner: string, now: string, lockedUntil: string, expiresAt: string): Promise<IdempotencyRecord | null>;
  /** Extends `owner`'s claim. */
  renew(userId: string, key: string, owner: string, lockedUntil: string): Promise<void>;
  /** Records the answer of `owner`'s claim; from then on it is replayed. */
  complete(userId: string, key: string, owner: string, answer: StoredAnswer): Promise<void>;
  /** Gives up `owner`'s claim without an answer, so that the same request may run again. */
  release(userId: string, key: string, owner: string): Promise<void>;
  /** Removes up to `limit` records that expired before `now`; returns how many. */
  removeExpired(now: string, limit: number): Promise<number>;
}

/** A change to an endpoint; absent fields stay as they are. */
export interface EndpointChanges {
  url?: string;
  events?: WebhookEndpoint['events'];
  description?: string | null;
  /** Enabling clears the reason it was disabled and its failure streak. */
  enabled?: boolean;
}

export interface WebhookStore {
  createEndpoint(endpoint: WebhookEndpoint, secret: string): Promise<void>;
  endpoint(userId: string, id: string): Promise<WebhookEndpoint | undefined>;
  endpoints(userId: string): Promise<WebhookEndpoint[]>;
  updateEndpoint(userId: string, id: string, changes: EndpointChanges, now: string): Promise<WebhookEndpoint | undefined>;
  /** Removes an endpoint with its deliveries; false when there was none. */
  deleteEndpoint(userId: string, id: string): Promise<boolean>;
  /** The endpoint's deliveries, newest first. */
  deliveries(endpointId: string, limit: number): Promise<WebhookDelivery[]>;
  delivery(endpointId: string, id: string): Promise<WebhookDelivery | undefined>;
  /** Queues a delivery again, now, retried afresh until `giveUpAfter`. */
  redeliver(endpointId: string, id: string, now: string, giveUpAfter: string): Promise<WebhookDelivery | undefined>;
  /**
   * Claims up to `limit` deliveries that are due (of enabled endpoints, not held by a live
   * lease) for `owner` until `leaseUntil`, counting an attempt for each.
   */
  claimDue(owner: string, now: string, leaseUntil: string, limit: number): Promise<DueDelivery[]>;
  /**
   * Records an attempt of a delivery `owner` holds: succeeded, or failed and due again at
   * `nextAttemptAt` (given up when null). A failure streak older than `disableBefore` disables
   * the endpoint with `reason`. Returns false when the lease was no longer `owner`'s.
   */
  recordAttempt(
    owner: string,
    delivery: DueDelivery,
    outcome: AttemptOutcome,
    now: string,
    nextAttemptAt: string | null,
    disable: { before: string; reason: string },
  ): Promise<boolean>;
  /** Lets go of every delivery lease (start-up of the only process: none can still be held). */
  releaseAllLeases(): Promise<void>;
}

/** Token buckets shared by every process. */
export interface RateLimitStore {
  /**
   * Refills `bucket` (at `perMs` tokens a millisecond, up to `burst`) to `nowMs` and takes one
   * token when there is one, atomically. Returns whether it took one and the tokens left.
   */
  take(bucket: string, nowMs: number, perMs: number, burst: number): Promise<{ allowed: boolean; tokens: number }>;
}

/**
 * Removing tasks for good, a small batch per transaction, so that no lock is held for long. A
 * task being removed is marked first, so that a removal cut short (a crash) is finished later.
 */
export interface RetentionStore {
  /**
   * Up to `limit` ended tasks to remove: those whose last activity is older than their agent's
   * `retentionDays`, or else `defaultDays` (none when null), counted back from `now`; and those
   * whose removal was started.
   */
  expired(now: Date, defaultDays: number | null, limit: number): Promise<string[]>;
  /** Marks an ended task as being removed (of `userId` only, unless null). */
  beginPurge(taskId: string, userId: string | null, now: string): Promise<'marked' | 'executing' | 'missing'>;
  /**
   * Removes up to `limit` rows of the task's events, conversation, webhook deliveries and
   * artifact versions, in one transaction. Returns how many, and the hashes of removed versions.
   */
  purgeBatch(taskId: string, limit: number): Promise<{ removed: number; blobs: string[] }>;
  /** Removes the task itself and its artifacts (once their versions are gone). */
  finishPurge(taskId: string): Promise<void>;
}
