// Names for the shapes of Kiln's OpenAPI document (src/generated/openapi.ts, generated).
import type { components, operations } from './generated/openapi.js';

type Schemas = components['schemas'];

export type TaskStatus = Schemas['TaskStatus'];
export type Task = Schemas['Task'];
export type TaskListItem = Schemas['TaskListItem'];
export type TaskDetail = Schemas['TaskDetail'];
export type TaskCreated = Schemas['TaskCreated'];
export type TaskHistory = Schemas['TaskHistory'];
export type TaskOutput = Schemas['TaskOutput'];
export type Pagination = Schemas['Pagination'];
export type Message = Schemas['Message'];
export type PendingApproval = Schemas['PendingApproval'];
export type FollowUpAccepted = Schemas['FollowUpAccepted'];
export type ApprovalOutcome = Schemas['ApprovalOutcome'];
export type ApprovalResult = Schemas['ApprovalResult'];
export type ToolPolicy = Schemas['ToolPolicy'];
export type EnvMap = Schemas['EnvMap'];
export type TokenUsage = Schemas['TokenUsage'];
export type ArtifactFile = Schemas['ArtifactFile'];
export type ArtifactVersion = Schemas['ArtifactVersion'];
export type Agent = Schemas['Agent'];
export type AgentSettings = Schemas['AgentSettings'];
export type AgentChanges = Schemas['AgentChanges'];
export type Session = Schemas['Session'];
export type UsageReport = Schemas['UsageReport'];
export type UsageDay = Schemas['UsageDay'];
export type ArtifactLink = Schemas['ArtifactLink'];

export type GumloopAgent = Schemas['GumloopAgent'];
export type GumloopArtifact = Schemas['GumloopArtifact'];
export type GumloopDownload = Schemas['GumloopDownload'];
export type GumloopArtifactQuery = NonNullable<operations['gumloopListArtifacts']['parameters']['query']>;

export type SyntropicArtifactSummary = Schemas['SyntropicArtifactSummary'];
export type SyntropicArtifact = Schemas['SyntropicArtifact'];
export type SyntropicCreateArtifact = Schemas['SyntropicCreateArtifact'];
export type SyntropicCreated = Schemas['SyntropicCreated'];
export type SyntropicContent = Schemas['SyntropicContent'];
export type SyntropicUploaded = Schemas['SyntropicUploaded'];
export type SyntropicArtifactQuery = NonNullable<operations['syntropicListArtifacts']['parameters']['query']>;

/**
 * An event of a task's stream. Events of the task's log (all but `history_message` and
 * `history_done`) carry `id`, which only grows. A stream failure on the server (an `error`
 * without an id) is not yielded: the SDK reconnects instead.
 */
export type TaskEvent = Exclude<Schemas['StreamEvent'], { event: 'error'; data: Schemas['StreamFailureEvent'] }>;
export type TaskEventName = TaskEvent['event'];
/** The event that ends a turn: `done`, `error` or `cancelled`. */
export type TerminalEvent = Extract<TaskEvent, { event: 'done' | 'error' | 'cancelled' }>;

/** An API key as listed (its secret is shown only when created). */
export type ApiKey = Schemas['ApiKey'];
/** A new API key, with its secret `key` (shown this once). */
export type CreatedApiKey = Schemas['ApiKeyCreated'];
export type User = Schemas['UserSummary'];
