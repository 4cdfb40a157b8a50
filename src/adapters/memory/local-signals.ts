import { EventEmitter } from 'node:events';
import type { QueuedAmount, TaskSignals } from '../../ports/task-signals.js';

/** Task signals within one process. */
export class LocalSignals implements TaskSignals {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  queued(amount: QueuedAmount = 'one'): void {
    this.emitter.emit('queued', amount);
  }

  queuedHere(): void {
    this.queued();
  }

  stop(taskId: string): void {
    this.emitter.emit('stop', taskId);
  }

  turnEnded(taskId: string, turn: number): void {
    this.emitter.emit('turnEnded', taskId, turn);
  }

  onQueued(listener: (amount: QueuedAmount) => void): () => void {
    this.emitter.on('queued', listener);
    return () => this.emitter.off('queued', listener);
  }

  onStop(listener: (taskId: string) => void): () => void {
    this.emitter.on('stop', listener);
    return () => this.emitter.off('stop', listener);
  }

  onTurnEnded(listener: (taskId: string, turn: number) => void): () => void {
    this.emitter.on('turnEnded', listener);
    return () => this.emitter.off('turnEnded', listener);
  }
}
