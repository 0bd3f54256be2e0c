import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionRun, completionScript, newCompletionCommand } from '../src/commands/completion.js';
import { buildProgram } from '../src/program.js';
import { type Cli, makeCli, withFactory } from './run-cli.js';

const has = (shell: string): boolean => {
  try {
    execFileSync(shell, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/**
 * Runs a completion script's function in a real bash, with COMP_WORDS and COMP_CWORD set as bash sets
 * them for `line` (words split on spaces; the last one is the word being completed), and answers the
 * offered words, sorted (bash sorts them when showing them).
 */
async function bashComplete(file: string, line: string): Promise<string[]> {
  const driver = `source "$1"
COMP_WORDS=("\${@:2}")
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
COMP_LINE="\${*:2}"
COMP_POINT=\${#COMP_LINE}
_tickets tickets "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await execa('bash', ['--norc', '--noprofile', '-c', driver, 'bash', file, ...line.split(' ')], {
    env: { PATH: process.env.PATH },
    extendEnv: false,
    reject: false,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('tickets completion', () => {
  let cli: Cli;
  let dir: string;
  let bashFile: string;

  beforeAll(async () => {
    cli = makeCli();
    dir = mkdtempSync(join(tmpdir(), 'tickets-completion-test-'));
    const r = await cli(['completion', 'bash']);
    expect(r.exitCode, r.stderr).toBe(0);
    bashFile = join(dir, 'tickets.bash');
    writeFileSync(bashFile, `${r.stdout}\n`);
  });
  afterAll(() => {
    cli.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What bash offers for the words typed so far (the last one being completed), as a person's TAB would. */
  const complete = (line: string, file = bashFile) => bashComplete(file, line);

  it('bash: the script loads in a real bash and registers a complete -F function', async () => {
    const r = await execa('bash', [
      '--norc',
      '--noprofile',
      '-c',
      'source "$1" && complete -p tickets',
      'bash',
      bashFile,
    ]);
    expect(r.stdout).toBe('complete -o default -F _tickets tickets');
    expect(execFileSync('bash', ['-n', bashFile]).toString()).toBe('');
  });

  it('bash: completes commands, subcommands and options from the program tree', async () => {
    expect(await complete('tickets ev')).toEqual(['events']);
    expect(await complete('tickets events cr')).toEqual(['create']);
    expect(await complete('tickets events create --na')).toEqual(['--name']);
    expect(await complete('tickets ap')).toEqual(['api', 'api-keys']);
    expect(await complete('tickets completion ')).toEqual(['bash', 'fish', 'zsh']);
    expect(await complete('tickets completion f')).toEqual(['fish']);
    // The new commands' own options.
    expect(await complete('tickets api --pa')).toEqual(['--paginate']);
    // Global options are offered under a subcommand too.
    expect(await complete('tickets events create --js')).toEqual(['--json']);
    // Every subcommand of a group, none of another group's.
    const events = await complete('tickets events ');
    expect(events).toEqual(expect.arrayContaining(['list', 'create', 'publish', 'help']));
    expect(events).not.toContain('purchase');
    // commander's `help [command]` takes a command beside it.
    expect(await complete('tickets help ev')).toEqual(['events']);
    expect(await complete('tickets events help pu')).toEqual(['publish']);
    // --version is the program's alone.
    expect(await complete('tickets --ver')).toEqual(['--version']);
    expect(await complete('tickets events --ver')).toEqual([]);
  });

  it('bash: skips options and their values when finding the command', async () => {
    expect(await complete('tickets --profile events ev')).toEqual(['events']);
    expect(await complete('tickets --profile prod events cr')).toEqual(['create']);
    expect(await complete('tickets --json events cr')).toEqual(['create']);
    expect(await complete('tickets events create --name "Jazz" --time')).toEqual(['--timezone']);
    // An option's choices as its value; files (bash's default) where nothing is known.
    expect(await complete('tickets sell evt_1 --method ')).toEqual(['manual']);
    expect(await complete('tickets events create --name ')).toEqual([]);
  });

  it('bash: a command added to the program is completed without touching the generator', async () => {
    const program = new Command('tickets').option('--json');
    program.command('zebra').command('stripes').option('--count <n>').option('--wide');
    program.command('zoo');
    const file = join(dir, 'extra.bash');
    writeFileSync(file, completionScript('bash', program));
    const run = (line: string) => bashComplete(file, line);
    expect(await run('tickets z')).toEqual(['zebra', 'zoo']);
    expect(await run('tickets zebra st')).toEqual(['stripes']);
    expect(await run('tickets zebra stripes --count 3 --')).toEqual([
      '--count',
      '--help',
      '--json',
      '--wide',
    ]);
  });

  it('zsh: a #compdef script with compdef and _describe, from the same tree', async () => {
    const r = await cli(['completion', 'zsh']);
    expect(r.exitCode, r.stderr).toBe(0);
    const zsh = r.stdout;
    expect(zsh.startsWith('#compdef tickets\n')).toBe(true);
    expect(zsh).toContain('compdef _tickets tickets');
    expect(zsh).toMatch(/\n {4}''\)\n {6}subs=\([^\n]*'events:[^']+'/);
    expect(zsh).toMatch(/\n {4}'events create'\)\n[\s\S]*?opts=\([^\n]*'--name:[^']+'/);
    expect(zsh).toContain("'completion|0') reply=('bash' 'zsh' 'fish')");
    if (has('zsh')) execFileSync('zsh', ['-n'], { input: zsh });
  });

  it('fish: complete -c lines for each command and option', async () => {
    const r = await cli(['completion', 'fish']);
    expect(r.exitCode, r.stderr).toBe(0);
    const fish = r.stdout;
    expect(fish).toMatch(/^complete -c tickets -f -n '__tickets_using' -a 'events' -d '[^']+'$/m);
    expect(fish).toMatch(/^complete -c tickets -f -n '__tickets_using events' -a 'create' -d /m);
    expect(fish).toMatch(/^complete -c tickets -n '__tickets_using events create' -l name -r -d /m);
    expect(fish).toMatch(/^complete -c tickets -n '__tickets_using api' -s f -l field -r -d /m);
    expect(fish).toMatch(/^complete -c tickets -l json -d /m);
    expect(fish).toContain("complete -c tickets -f -n '__tickets_using completion' -a 'bash zsh fish'");
    expect(fish).toContain("complete -c tickets -n '__tickets_using sell' -l method -x -a 'manual'");
    // Descriptions with quotes stay one fish word.
    expect(fish).not.toMatch(/-d '[^'\n]*[^\\]'[^'\n]*'$/m);
    if (has('fish')) execFileSync('fish', ['--no-execute'], { input: fish });
  });

  it('reads the shell, refuses others, and documents installing in --help', async () => {
    const seen: string[] = [];
    const program = new Command('tickets').exitOverride().configureOutput({ writeErr: () => {} });
    newCompletionCommand(program, async (_f, o) => {
      seen.push(`${o.shell}:${o.program.name()}`);
      return 0;
    });
    await program.parseAsync(['node', 'tickets', 'completion', 'fish']);
    expect(seen).toEqual(['fish:tickets']);

    const bad = await cli(['completion', 'powershell']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are bash, zsh, fish/);

    const help = await cli(['completion', '--help']);
    expect(help.stdout).toContain(
      'tickets completion bash > ~/.local/share/bash-completion/completions/tickets',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's $fpath
    expect(help.stdout).toContain('tickets completion zsh > "${fpath[1]}/_tickets"');
    expect(help.stdout).toContain('tickets completion fish > ~/.config/fish/completions/tickets.fish');

    const direct = await withFactory(cli, {}, (f) =>
      completionRun(f, { shell: 'bash', program: buildProgram() }),
    );
    expect(direct.result).toBe(0);
    expect(direct.stdout).toContain('complete -o default -F _tickets tickets');
  });
});
