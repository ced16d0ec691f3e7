/**
 * The four recipes wired into an app, in library use: Herald runs inside the app's own
 * process, on the embedded database (a folder) or on PostgreSQL (DATABASE_URL).
 *
 *   npm run build                        # once: the app imports the compiled package
 *   node examples/recipes-app/app.js     # Ctrl-C to stop; emails land in .herald-recipes-app/outbox/
 *
 * - daily_briefing, weekly_summary, achievement_nudge: local-time schedules each user sets in
 *   their preferences; the scheduler fires them at that time in the user's zone, and the
 *   worker asks content.js what to send.
 * - due_date_reminder: a reminder per task with a due date, at offsets before it.
 * docs/recipes.md says what each one sends and how to change its templates.
 */
import { pathToFileURL } from 'node:url';
import { builtinHandlers, createHerald, loadRecipes, runUntilSignal } from 'herald';
import { content, reminderData, tasks, users } from './content.js';

/** Where each new user's schedules start (they change them in their preferences). */
const DEFAULT_SCHEDULES = {
  daily_briefing: { time: '08:00', skipWeekends: true },
  weekly_summary: { day: 'monday', time: '09:00' },
  achievement_nudge: { time: '19:00' },
};

/** The reminders of a task: a day, two hours and fifteen minutes before it is due. */
const DEFAULT_OFFSETS = ['24h', '2h', '15m'];

export async function startApp({
  dataDir = '.herald-recipes-app',
  databaseUrl = process.env.DATABASE_URL || undefined,
  logLevel = 'info',
} = {}) {
  // 1. Herald in this process. It migrates its schema on the first start.
  const herald = await createHerald({ dataDir, databaseUrl, logLevel });

  // 2. The recipe types, their layout and partials (as-is; to change them, copy recipes/ into
  //    your templates folder and load that with loadTemplateFolder instead).
  await loadRecipes(herald);

  // 3. Users become recipients; a new one gets the default schedules. Their zone decides
  //    when "08:00" is; they can change times and days later (PUT /v1/me/preferences).
  for (const user of users) {
    const { created } = await herald.recipients.upsert(user.id, {
      email: user.email,
      locale: user.locale,
      timezone: user.timezone,
      data: { name: user.name },
    });
    if (created) await herald.preferences.put(user.id, { schedules: DEFAULT_SCHEDULES });
  }

  // 4. The worker sends: notifications, reminders, and each due batch of a schedule, whose
  //    content comes from the app's functions (content.js).
  const worker = herald.worker({ handlers: builtinHandlers(herald, { content }) });
  await worker.start();

  // 5. The scheduler fires what is due (any number of processes may run one).
  const scheduler = herald.scheduler();
  scheduler.start();

  // 6. When a task gets a due date, it gets its reminders; a new date moves them, completing
  //    the task cancels what is not sent. Each write could join the app's own transaction
  //    ({ tx }), so a reminder exists only if the task's change commits.
  async function setDueDate(taskId, dueAt, offsets = DEFAULT_OFFSETS) {
    const task = tasks.find((t) => t.id === taskId);
    task.dueAt = dueAt.getTime();
    const { reminder } = await herald.reminders.put(`task-${task.id}`, {
      to: task.owner,
      type: 'due_date_reminder',
      dueAt: dueAt.toISOString(),
      offsets,
      data: reminderData(task),
    });
    return reminder;
  }
  async function completeTask(taskId) {
    const task = tasks.find((t) => t.id === taskId);
    task.doneAt = Date.now();
    await herald.reminders.remove(`task-${task.id}`);
  }

  return { herald, worker, scheduler, setDueDate, completeTask };
}

// Run directly: start, give the quarterly report a due date, print what is planned, and run
// until Ctrl-C.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const app = await startApp({ logLevel: 'warn' });
  const reminder = await app.setDueDate('t1', new Date(Date.now() + 26 * 3_600_000));
  const print = (line) => process.stdout.write(`${line}\n`);
  for (const user of users) {
    for (const s of await app.herald.localSchedules.list(user.id))
      print(`${user.id}: ${s.name} next at ${s.nextRunAt} (${s.timezone})`);
  }
  for (const item of reminder.items)
    print(`${item.recipientId}: due_date_reminder ${item.offset} before, at ${item.runAt}`);
  print('running; Ctrl-C to stop');
  await runUntilSignal({ herald: app.herald, workers: [app.worker] });
}
