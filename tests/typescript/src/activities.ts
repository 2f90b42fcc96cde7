// Activities run in the worker's Node process (not in the workflow sandbox).
import { Context } from '@temporalio/activity';

export async function greet(name: string): Promise<string> {
  // Touch the activity context so a broken ActivityInfo would show up here.
  const info = Context.current().info;
  if (!info.activityId || info.attempt < 1) {
    throw new Error(`unexpected activity info: ${JSON.stringify(info)}`);
  }
  return `Hello, ${name}!`;
}
