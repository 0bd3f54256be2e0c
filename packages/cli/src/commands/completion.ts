import { Argument, type Command, type Help } from 'commander';
import { Context } from '../context.js';
import { EXIT } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What `tickets completion` was asked for. */
export interface CompletionOptions {
  shell: Shell;
  /** The command tree to complete: the whole program, so a new command is completed without more work. */
  program: Command;
}

/** An option as the completion scripts see it. */
interface Flag {
  long?: string;
  short?: string;
  description: string;
  /** It takes a value (`--name <name>`): the next word is that value, not a command. */
  takesValue: boolean;
  choices?: readonly string[];
}

/** One command of the tree: `path` is its words after `tickets` (empty for `tickets` itself). */
interface Node {
  path: string[];
  subcommands: { name: string; aliases: string[]; description: string }[];
  /** Its own options and those of the commands above it (commander reads them anywhere). */
  flags: Flag[];
  /** Choices of its positional arguments, in order (undefined: any word). */
  args: (readonly string[] | undefined)[];
}

const INSTALL = `
Installing:
  bash  tickets completion bash > ~/.local/share/bash-completion/completions/tickets
        (or add to ~/.bashrc: source <(tickets completion bash))
  zsh   tickets completion zsh > "\${fpath[1]}/_tickets"    (then start a new shell)
        (or add to ~/.zshrc, after compinit: source <(tickets completion zsh))
  fish  tickets completion fish > ~/.config/fish/completions/tickets.fish

The script is made from the commands this version of tickets has: generate it again after an upgrade.
`;

export function newCompletionCommand(
  program: Command,
  run: (f: Factory, o: CompletionOptions) => Promise<number> = completionRun,
): Command {
  const command = program
    .command('completion')
    .description('Print a shell completion script for tickets (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell: bash, zsh or fish').choices(SHELLS))
    .addHelpText('after', INSTALL)
    .action(async (shell: Shell, _flags: Record<string, unknown>, cmd: Command) => {
      let root = cmd;
      while (root.parent) root = root.parent;
      io().exitCode = await run(factoryOf(Context.of(cmd)), { shell, program: root });
    });
  return examples(
    command,
    'tickets completion bash > ~/.local/share/bash-completion/completions/tickets',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's $fpath, printed as it is
    'tickets completion zsh > "${fpath[1]}/_tickets"',
    'tickets completion fish > ~/.config/fish/completions/tickets.fish',
  );
}

export async function completionRun(f: Factory, o: CompletionOptions): Promise<number> {
  f.io.stdout.write(completionScript(o.shell, o.program));
  return EXIT.ok;
}

export function completionScript(shell: Shell, program: Command): string {
  const nodes = commandTree(program);
  const name = program.name();
  if (shell === 'bash') return bashScript(name, nodes);
  if (shell === 'zsh') return zshScript(name, nodes);
  return fishScript(name, nodes);
}

/** Walks the program's commands (with commander's own idea of which are visible, `help` included). */
export function commandTree(program: Command): Node[] {
  const help: Help = program.createHelp();
  const nodes: Node[] = [];
  const flagOf = (o: Command['options'][number]): Flag => ({
    ...(o.long ? { long: o.long } : {}),
    ...(o.short ? { short: o.short } : {}),
    description: oneLine(o.description),
    takesValue: o.required,
    ...(o.argChoices ? { choices: o.argChoices } : {}),
  });
  const walk = (cmd: Command, path: string[], inherited: Flag[], helpFor?: Command[]) => {
    const own = help.visibleOptions(cmd).map(flagOf);
    const names = new Set(own.map((f) => f.long ?? f.short));
    const flags = [...own, ...inherited.filter((f) => !names.has(f.long ?? f.short))];
    const subs = help.visibleCommands(cmd);
    nodes.push({
      path,
      subcommands: subs.map((c) => ({
        name: c.name(),
        aliases: c.aliases(),
        description: oneLine(help.subcommandDescription(c)),
      })),
      flags,
      // commander's own `help [command]` takes the name of a command beside it.
      args: helpFor ? [helpFor.map((c) => c.name())] : cmd.registeredArguments.map((a) => a.argChoices),
    });
    // Below this command its options still apply, except its help and version.
    const passed = flags.filter((f) => f.long !== '--help' && f.long !== '--version');
    const siblings = subs.filter((c) => cmd.commands.includes(c));
    for (const sub of subs)
      walk(sub, [...path, sub.name()], passed, cmd.commands.includes(sub) ? undefined : siblings);
  };
  walk(program, [], []);
  return nodes;
}

/** The first line of a description, short enough for a completion menu. */
function oneLine(text: string): string {
  const line = (text.split('\n')[0] ?? '').trim();
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}

/** A word for a POSIX shell, in single quotes. */
const sq = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
/** A word for fish, in single quotes (fish escapes \ and ' inside them). */
const fq = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

const valueFlags = (n: Node) =>
  n.flags.filter((f) => f.takesValue).flatMap((f) => [f.long, f.short].filter((x): x is string => !!x));
const withChoices = (nodes: Node[]) =>
  nodes.flatMap((n) =>
    n.flags
      .filter((f) => f.choices && f.takesValue)
      .flatMap((f) =>
        [f.long, f.short].filter((x): x is string => !!x).map((flag) => ({ n, flag, choices: f.choices! })),
      ),
  );
const positionalChoices = (nodes: Node[]) =>
  nodes.flatMap((n) => n.args.flatMap((choices, index) => (choices ? [{ n, index, choices }] : [])));

function bashScript(name: string, nodes: Node[]): string {
  const fn = `_${name.replace(/\W/g, '_')}`;
  const spec = nodes
    .map((n) => {
      const subs = n.subcommands.map((s) => s.name).join(' ');
      const aliases = n.subcommands.flatMap((s) => s.aliases.map((a) => `${a}=${s.name}`)).join(' ');
      const opts = n.flags.flatMap((f) => (f.long ? [f.long] : f.short ? [f.short] : [])).join(' ');
      return `    ${sq(n.path.join(' '))}) subs=${sq(subs)} aliases=${sq(aliases)} opts=${sq(opts)} vals=${sq(valueFlags(n).join(' '))} ;;`;
    })
    .join('\n');
  const choices = withChoices(nodes)
    .map(
      ({ n, flag, choices }) =>
        `    ${sq(`${n.path.join(' ')}|${flag}`)}) choices=${sq(choices.join(' '))} ;;`,
    )
    .join('\n');
  const args = positionalChoices(nodes)
    .map(
      ({ n, index, choices }) =>
        `    ${sq(`${n.path.join(' ')}|${index}`)}) choices=${sq(choices.join(' '))} ;;`,
    )
    .join('\n');
  return `# bash completion for ${name}, generated from its commands by \`${name} completion bash\`.
# Install: ${name} completion bash > ~/.local/share/bash-completion/completions/${name}
#      or: source <(${name} completion bash)   (in ~/.bashrc)

# For a command path ("" or "events create"): its subcommands, their aliases (alias=name), its long
# options, and the options that take a value.
${fn}_spec() {
  subs= aliases= opts= vals=
  case "$1" in
${spec}
  esac
}

# The choices of an option's value ("path|--flag") or of a positional argument ("path|index").
${fn}_choices() {
  choices=
  case "$1" in
${choices}
${args}
  esac
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmdpath= word pending= i npos=0 pair
  local subs aliases opts vals choices
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    # --name=value arrives as three words when = is a word break.
    [[ $word == = ]] && continue
    if [[ -n $pending ]]; then pending=; continue; fi
    ${fn}_spec "$cmdpath"
    case $word in
      --*=*) ;;
      -?*) [[ " $vals " == *" $word "* ]] && pending=$word ;;
      *)
        for pair in $aliases; do [[ $word == "\${pair%%=*}" ]] && word=\${pair#*=}; done
        if [[ " $subs " == *" $word "* ]]; then
          cmdpath=\${cmdpath:+$cmdpath }$word npos=0
        else
          ((npos++))
        fi
        ;;
    esac
  done
  ${fn}_spec "$cmdpath"
  if [[ -n $pending ]]; then
    ${fn}_choices "$cmdpath|$pending"
    [[ -n $choices ]] && COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  else
    ${fn}_choices "$cmdpath|$npos"
    [[ -n $choices ]] && COMPREPLY=($(compgen -W "$choices" -- "$cur"))
  fi
  return 0
}

# -o default: files, where nothing else is known (an argument, an option's value).
complete -o default -F ${fn} ${name}
`;
}

function zshScript(name: string, nodes: Node[]): string {
  const fn = `_${name.replace(/\W/g, '_')}`;
  const described = (items: { term: string; description: string }[]) =>
    items
      .map((i) => sq(i.description ? `${i.term.replaceAll(':', '\\:')}:${i.description}` : i.term))
      .join(' ');
  const spec = nodes
    .map((n) => {
      const subs = described(n.subcommands.map((s) => ({ term: s.name, description: s.description })));
      const names = n.subcommands.flatMap((s) => [s.name, ...s.aliases]);
      const aliases = n.subcommands.flatMap((s) => s.aliases.map((a) => `${a}=${s.name}`));
      const opts = described(
        n.flags.flatMap((f) => (f.long ? [{ term: f.long, description: f.description }] : [])),
      );
      return [
        `    ${sq(n.path.join(' '))})`,
        `      subs=(${subs})`,
        `      names=(${names.map(sq).join(' ')}) aliases=(${aliases.map(sq).join(' ')})`,
        `      opts=(${opts})`,
        `      vals=(${valueFlags(n).map(sq).join(' ')})`,
        '      ;;',
      ].join('\n');
    })
    .join('\n');
  const choices = [
    ...withChoices(nodes).map(({ n, flag, choices }) => ({ key: `${n.path.join(' ')}|${flag}`, choices })),
    ...positionalChoices(nodes).map(({ n, index, choices }) => ({
      key: `${n.path.join(' ')}|${index}`,
      choices,
    })),
  ]
    .map(({ key, choices }) => `    ${sq(key)}) reply=(${choices.map(sq).join(' ')}) ;;`)
    .join('\n');
  return `#compdef ${name}
# zsh completion for ${name}, generated from its commands by \`${name} completion zsh\`.
# Install: ${name} completion zsh > "\${fpath[1]}/_${name}"   (then start a new shell)
#      or: source <(${name} completion zsh)   (in ~/.zshrc, after compinit)

${fn}_spec() {
  subs=() names=() aliases=() opts=() vals=()
  case "$1" in
${spec}
  esac
}

${fn}_choices() {
  reply=()
  case "$1" in
${choices}
  esac
}

${fn}() {
  local -a subs names aliases opts vals reply
  local cmdpath= word pending= pair
  local -i i npos=0
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    if [[ -n $pending ]]; then pending=; continue; fi
    ${fn}_spec "$cmdpath"
    case $word in
      --*=*) ;;
      -?*) (( \${vals[(Ie)$word]} )) && pending=$word ;;
      *)
        for pair in $aliases; do [[ $word == "\${pair%%=*}" ]] && word=\${pair#*=}; done
        if (( \${names[(Ie)$word]} )); then
          cmdpath=\${cmdpath:+$cmdpath }$word
          npos=0
        else
          (( npos++ ))
        fi
        ;;
    esac
  done
  ${fn}_spec "$cmdpath"
  if [[ -n $pending ]]; then
    ${fn}_choices "$cmdpath|$pending"
    if (( \${#reply} )); then compadd -a reply; else _files; fi
  elif [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options option opts
  elif (( \${#subs} )); then
    _describe -t commands command subs
  else
    ${fn}_choices "$cmdpath|$npos"
    if (( \${#reply} )); then compadd -a reply; else _files; fi
  fi
}

if [[ $funcstack[1] == ${fn} ]]; then
  # Autoloaded from $fpath: this file is the function's body.
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}

function fishScript(name: string, nodes: Node[]): string {
  const fn = `__${name.replace(/\W/g, '_')}`;
  const cases = (body: (n: Node) => string[]) =>
    nodes
      .map((n) => ({ n, words: body(n) }))
      .filter(({ words }) => words.length)
      .map(
        ({ n, words }) =>
          `        case ${fq(n.path.join(' '))}\n            printf '%s\\n' ${words.map(fq).join(' ')}`,
      )
      .join('\n');
  const lines: string[] = [];
  const using = (n: Node) => fq(`${fn}_using${n.path.map((p) => ` ${p}`).join('')}`);
  const root = nodes.find((n) => n.path.length === 0);
  const rootFlags = new Set(
    (root?.flags ?? []).filter((f) => f.long !== '--version').map((f) => f.long ?? f.short),
  );
  const flagLine = (f: Flag, condition?: string) => {
    const parts = [`complete -c ${name}`];
    if (condition) parts.push(`-n ${condition}`);
    if (f.short) parts.push(`-s ${f.short.replace(/^-/, '')}`);
    if (f.long) parts.push(`-l ${f.long.replace(/^--/, '')}`);
    if (f.choices) parts.push(`-x -a ${fq(f.choices.join(' '))}`);
    else if (f.takesValue) parts.push('-r');
    if (f.description) parts.push(`-d ${fq(f.description)}`);
    return parts.join(' ');
  };
  // The program's own options (and help) apply to every command.
  for (const f of root?.flags ?? [])
    lines.push(flagLine(f, f.long === '--version' ? using(root!) : undefined));
  for (const n of nodes) {
    for (const s of n.subcommands)
      lines.push(
        `complete -c ${name} -f -n ${using(n)} -a ${fq(s.name)}${s.description ? ` -d ${fq(s.description)}` : ''}`,
      );
    if (n.path.length)
      for (const f of n.flags) if (!rootFlags.has(f.long ?? f.short)) lines.push(flagLine(f, using(n)));
    const first = n.args[0];
    if (first && !n.subcommands.length)
      lines.push(`complete -c ${name} -f -n ${using(n)} -a ${fq(first.join(' '))}`);
  }
  return `# fish completion for ${name}, generated from its commands by \`${name} completion fish\`.
# Install: ${name} completion fish > ~/.config/fish/completions/${name}.fish

function ${fn}_subcommands --argument-names cmdpath
    switch "$cmdpath"
${cases((n) => n.subcommands.map((s) => s.name))}
    end
end

function ${fn}_value_options --argument-names cmdpath
    switch "$cmdpath"
${cases(valueFlags)}
    end
end

# The command typed so far ("events create"), options and their values left out.
function ${fn}_cmdpath
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmdpath
    set -l pending 0
    for t in $tokens
        if test $pending -eq 1
            set pending 0
            continue
        end
        switch $t
            case '--*=*'
                continue
            case '-'
                # stdin, an argument
            case '-*'
                if contains -- $t (${fn}_value_options "$cmdpath")
                    set pending 1
                end
                continue
        end
        if contains -- $t (${fn}_subcommands "$cmdpath")
            set cmdpath $cmdpath $t
        end
    end
    echo $cmdpath
end

# True when the command typed so far is exactly the words given.
function ${fn}_using
    set -l typed (${fn}_cmdpath)
    test "$typed" = "$argv"
end

${lines.join('\n')}
`;
}
