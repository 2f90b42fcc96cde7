// Smoke test of a Temporal-compatible server with the TypeScript SDK.
// Needs SUNDIAL_TEST_ADDRESS=host:port (namespace "default"); run.sh sets it up.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Client, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import * as activities from './activities';
import { addItemSignal, approveUpdate, doubler, smokeWorkflow, stateQuery } from './workflows';

const address = process.env.SUNDIAL_TEST_ADDRESS;
const namespace = 'default';
const TIMEOUT_MS = Number(process.env.SUNDIAL_TS_TIMEOUT_MS ?? 120_000);

Runtime.install({ logger: new DefaultLogger('WARN') });

// Last resort so a wedged connection or worker can never keep the process alive: the test's
// own deadline (below) fires first and names the step that hung.
setTimeout(() => {
  console.error(`smoke test: hard timeout after ${TIMEOUT_MS / 1000 + 5}s, exiting`);
  process.exit(1);
}, TIMEOUT_MS + 5_000).unref();

let step = 'init';
function deadline(ms: number): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s during step: ${step}`)), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

test('activity + child workflow + signal + query + update', { timeout: TIMEOUT_MS }, async () => {
  assert.ok(address, 'SUNDIAL_TEST_ADDRESS must be set (host:port)');
  const taskQueue = `ts-smoke-${randomUUID()}`;
  const workflowId = `ts-smoke-wf-${randomUUID()}`;

  step = 'connect';
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  // Rejecting the promise given to runUntil shuts the worker down, so a hang fails cleanly.
  const limit = deadline(TIMEOUT_MS - 5_000);
  try {
    const client = new Client({ connection, namespace });
    step = 'create worker (bundles workflows)';
    const worker = await Promise.race([
      Worker.create({
        connection: nativeConnection,
        namespace,
        taskQueue,
        // Bundled with webpack at startup, from the compiled dist/workflows.js.
        workflowsPath: require.resolve('./workflows'),
        activities,
      }),
      limit.promise,
    ]);

    const steps = async () => {
      step = 'start workflow';
      const handle = await client.workflow.start(smokeWorkflow, {
        taskQueue,
        workflowId,
        args: ['TypeScript'],
        workflowExecutionTimeout: '2 minutes',
      });

      step = 'query before signal';
      // Query before the signal: no signals yet. Wait until the workflow has run the
      // activity and the child so the remaining steps happen in a known stage.
      const before = await eventually(
        'stage "waiting"',
        () => handle.query(stateQuery),
        (s) => s.stage === 'waiting',
      );
      assert.deepEqual(before.signals, [], 'query before signal');
      assert.equal(before.approvedBy, null, 'query before update');

      step = 'signal + query after signal';
      // Signal changes state; the query sees it.
      await handle.signal(addItemSignal, 'apple');
      const after = await eventually(
        'signal to be visible in the query',
        () => handle.query(stateQuery),
        (s) => s.signals.length > 0,
      );
      assert.deepEqual(after.signals, ['apple'], 'query after signal');
      assert.equal(after.stage, 'waiting');

      step = 'update rejected by validator';
      // An update the validator rejects fails and leaves the workflow running.
      await assert.rejects(handle.executeUpdate(approveUpdate, { args: [''] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError, `expected WorkflowUpdateFailedError, got ${err}`);
        return true;
      });

      step = 'update';
      // A valid update returns the handler's value (and lets the workflow finish).
      const updateResult = await handle.executeUpdate(approveUpdate, { args: ['tester'] });
      assert.equal(updateResult, 'approved by tester after 1 signal(s)', 'update result');

      step = 'workflow result';
      const result = await handle.result();
      assert.deepEqual(result, {
        greeting: 'Hello, TypeScript!',
        childResult: 42,
        signals: ['apple'],
        approvedBy: 'tester',
      });

      step = 'describe + history';
      const desc = await handle.describe();
      assert.equal(desc.status.name, 'COMPLETED', 'describe status');

      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const has = (attr: string) => events.some((e) => (e as Record<string, unknown>)[attr] != null);
      for (const attr of [
        'workflowExecutionStartedEventAttributes',
        'activityTaskCompletedEventAttributes',
        'startChildWorkflowExecutionInitiatedEventAttributes',
        'childWorkflowExecutionCompletedEventAttributes',
        'workflowExecutionSignaledEventAttributes',
        'workflowExecutionUpdateAcceptedEventAttributes',
        'workflowExecutionUpdateCompletedEventAttributes',
        'workflowExecutionCompletedEventAttributes',
      ]) {
        assert.ok(has(attr), `history should contain an event with ${attr} (${events.length} events)`);
      }
      console.log(`workflow ${workflowId} completed: ${events.length} history events`);
    };
    await worker.runUntil(Promise.race([steps(), limit.promise]));
  } finally {
    limit.clear();
    await connection.close();
    await nativeConnection.close();
  }
});

test('eager workflow start', { timeout: TIMEOUT_MS }, async () => {
  assert.ok(address, 'SUNDIAL_TEST_ADDRESS must be set (host:port)');
  const taskQueue = `ts-eager-${randomUUID()}`;
  // Eager start needs the client and the worker on one NativeConnection.
  const nativeConnection = await NativeConnection.connect({ address });
  try {
    const client = new Client({ connection: nativeConnection, namespace });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace,
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
      activities,
    });
    await worker.runUntil(async () => {
      const handle = await client.workflow.start(doubler, {
        taskQueue,
        workflowId: `ts-eager-wf-${randomUUID()}`,
        args: [21],
        requestEagerStart: true,
      });
      assert.ok(handle.eagerlyStarted, 'the start response should carry the first workflow task');
      assert.equal(await handle.result(), 42);
      const events = (await handle.fetchHistory()).events ?? [];
      assert.ok(
        events[0]?.workflowExecutionStartedEventAttributes?.eagerExecutionAccepted,
        'the started event should say the eager start was accepted',
      );
    });
  } finally {
    await nativeConnection.close();
  }
});

test('a schedule: created, triggered, described, listed and deleted', { timeout: TIMEOUT_MS }, async () => {
  assert.ok(address, 'SUNDIAL_TEST_ADDRESS must be set (host:port)');
  const taskQueue = `ts-schedule-${randomUUID()}`;
  const scheduleId = `ts-schedule-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  try {
    const client = new Client({ connection: nativeConnection, namespace });
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace,
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
      activities,
    });
    await worker.runUntil(async () => {
      const handle = await client.schedule.create({
        scheduleId,
        spec: { cronExpressions: ['0 12 * * MON'] },
        action: { type: 'startWorkflow', workflowType: doubler, args: [4], taskQueue },
        state: { paused: true, note: 'made by the TypeScript smoke test' },
      });
      let description = await handle.describe();
      assert.equal(description.state.paused, true);
      assert.equal(description.state.note, 'made by the TypeScript smoke test');
      assert.deepEqual(description.spec.calendars?.[0]?.dayOfWeek, [{ start: 'MONDAY', end: 'MONDAY', step: 1 }]);
      await handle.trigger();
      const deadline = Date.now() + 10_000;
      while ((description = await handle.describe()).info.recentActions.length === 0) {
        assert.ok(Date.now() < deadline, 'the trigger should start a run');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const started = description.info.recentActions[0].action;
      assert.equal(await client.workflow.getHandle(started.workflow.workflowId).result(), 8);
      let listed = false;
      while (!listed) {
        for await (const s of client.schedule.list()) {
          if (s.scheduleId === scheduleId) listed = true;
        }
        assert.ok(listed || Date.now() < deadline + 10_000, 'the schedule should be listed');
        if (!listed) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await handle.delete();
    });
  } finally {
    await nativeConnection.close();
  }
});
