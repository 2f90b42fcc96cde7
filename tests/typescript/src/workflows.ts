// Workflow code: bundled by the worker with webpack (from workflowsPath) and run in its sandbox.
import {
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type * as activities from './activities';

const { greet } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface SmokeState {
  stage: string;
  signals: string[];
  approvedBy: string | null;
}

export interface SmokeResult {
  greeting: string;
  childResult: number;
  signals: string[];
  approvedBy: string;
}

export const addItemSignal = defineSignal<[string]>('addItem');
export const stateQuery = defineQuery<SmokeState>('state');
export const approveUpdate = defineUpdate<string, [string]>('approve');

/** Child workflow: doubles its input. */
export async function doubler(n: number): Promise<number> {
  return n * 2;
}

/**
 * Runs an activity and a child workflow, then waits until it has received at least one
 * `addItem` signal and one `approve` update, and returns everything it saw.
 */
export async function smokeWorkflow(name: string): Promise<SmokeResult> {
  const state: SmokeState = { stage: 'started', signals: [], approvedBy: null };

  setHandler(stateQuery, () => state);
  setHandler(addItemSignal, (item: string) => {
    state.signals.push(item);
  });
  setHandler(
    approveUpdate,
    (by: string) => {
      state.approvedBy = by;
      return `approved by ${by} after ${state.signals.length} signal(s)`;
    },
    {
      validator: (by: string) => {
        if (!by) throw new Error('approver must not be empty');
      },
    },
  );

  state.stage = 'activity';
  const greeting = await greet(name);

  state.stage = 'child';
  const childResult = await executeChild(doubler, { args: [21] });

  state.stage = 'waiting';
  await condition(() => state.signals.length > 0 && state.approvedBy !== null);

  state.stage = 'done';
  return { greeting, childResult, signals: state.signals, approvedBy: state.approvedBy! };
}
