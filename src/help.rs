//! The text `referrify COMMAND --help` ends with: examples to copy and the exit codes (the
//! numbers are `exit::Exit`'s; `-h` shows only the short line).

/// After every command's `-h`.
pub const SHORT: &str = "More: --help shows examples and what each exit code means.";

/// `referrify convert --help`.
pub const CONVERT: &str = "\
Examples:
  referrify convert --dry-run registry.example.com/team/app:1.4   # the plan; writes nothing
  referrify convert registry.example.com/team/app:1.4             # push, make discoverable, verify
  referrify convert -q --metadata-file bake-meta.json             # after `docker buildx bake --push --metadata-file bake-meta.json`
  referrify convert oci-layout://out:latest                       # an OCI layout (buildx --output type=oci,tar=false,dest=out)
  referrify convert --index rewrite registry.example.com/team/app:1.4   # also repoint the index entries and move the tag

Exit codes:
  0    every attestation is discoverable and verified (or already was)
  1    some image failed; the others were still processed, and the report names it
  2    usage error (an unknown option, a reference that cannot be parsed)
  130  stopped by Ctrl-C or SIGTERM; what was done is reported";

/// `referrify check --help`.
pub const CHECK: &str = "\
Examples:
  referrify check registry.example.com/team/app:1.4                  # per platform: is an attestation discoverable?
  referrify check oci-layout://out:latest                            # an OCI layout
  referrify check registry.example.com --html coverage.html          # every image of a registry, and a web page of it
  referrify check registry.example.com --repo team/ --format json    # only repositories under team/, as JSON

Exit codes:
  0    every platform manifest has a discoverable attestation
  1    something could not be read (an image, a repository, the catalog), or an image has a problem
  2    usage error (an unknown option, a reference that cannot be parsed)
  3    some platform manifest has no discoverable attestation: the report says why, and the fix
  130  stopped by Ctrl-C or SIGTERM";

/// `referrify migrate --help`.
pub const MIGRATE: &str = "\
Examples:
  referrify migrate registry.example.com --dry-run                   # the plan per repository; writes nothing
  referrify migrate registry.example.com --state migrate.state       # convert; rerun the same command to resume
  referrify migrate registry.example.com --repo team/ --tags '^v[0-9]+\\.'
  referrify migrate registry.example.com -q --format json --shard 1/4 --state shard-1.jsonl   # JSON lines

Exit codes:
  0    every repository was converted and verified (or had nothing to do)
  1    a repository, an image or the catalog failed; the rest was still done
  2    usage error (also: a state file of another registry or format)
  130  stopped by Ctrl-C or SIGTERM at a safe point: rerun the same command to resume";

/// `referrify undo --help`.
pub const UNDO: &str = "\
Examples:
  referrify undo registry.example.com --repo team/ --dry-run         # what would be taken back
  referrify undo registry.example.com --repo team/                   # take it back
  referrify undo registry.example.com/team/app:1.4                   # one image
  referrify undo registry.example.com/team/app:1.4 --restore-index sha256:…   # after convert --index rewrite

Exit codes:
  0    everything was taken back (or there was nothing to take back)
  1    some image failed (an OCI layout, too: undo works on registries); the others were still processed
  2    usage error (an unknown option, a reference that cannot be parsed)
  130  stopped by Ctrl-C or SIGTERM";

/// `referrify completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  referrify completions bash > ~/.local/share/bash-completion/completions/referrify   # then open a new shell
  referrify completions zsh > ~/.zfunc/_referrify     # with fpath+=(~/.zfunc) before compinit in ~/.zshrc
  referrify completions fish > ~/.config/fish/completions/referrify.fish

Exit codes:
  0    the script was printed
  1    it could not be written (stdout closed)
  2    usage error (a shell that is not listed)";

/// `referrify man --help`.
pub const MAN: &str = "\
Examples:
  referrify man --dir ~/.local/share/man/man1    # referrify(1) and referrify-COMMAND(1); then: man referrify-check
  referrify man | man -l -                       # read it now

Exit codes:
  0    the page was printed, or every page written
  1    a page could not be written (a missing directory, stdout closed)
  2    usage error (an unknown option)";

/// `referrify serve --help`.
pub const SERVE: &str = "\
Examples:
  referrify serve --registry registry.example.com   # token in $REFERRIFY_SERVE_TOKEN; listens on 127.0.0.1:8080
  referrify serve --registry registry.example.com --listen 0.0.0.0:8080 --token-file /run/secrets/token
  referrify serve --registry 127.0.0.1:5000 --journal /var/lib/referrify/journal --workers 32

Exit codes:
  1    serving failed (the listener broke)
  2    usage error (no token, a journal another process holds, an address in use)
  130  stopped by SIGTERM or Ctrl-C: the work in flight finished, the rest kept in the journal";

/// `referrify watch --help`.
pub const WATCH: &str = "\
Examples:
  referrify watch registry.example.com --state watch.json                 # a cycle every 60 s
  referrify watch ghcr.io --repo myorg/app --state watch.json --once      # one cycle (cron, CI)
  referrify watch registry.example.com --state watch.json --recheck-tags '^(latest|main)$'

Exit codes:
  0    the cycle (--once) converted what needed it
  1    an image, a repository or the catalog failed (tried again next cycle)
  2    usage error (an unknown option, a bad --recheck-tags pattern, an unreadable state file)
  130  stopped by Ctrl-C or SIGTERM (the state file is saved after each cycle)";
