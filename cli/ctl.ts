/** `canaryd ctl`: the admin API from the command line. (Filled in by the admin work.) */
export async function runCtl(args: string[]): Promise<number> {
  console.error(`canaryd ctl: not available yet (${args.join(' ')})`);
  return 2;
}
