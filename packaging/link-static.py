#!/usr/bin/env python3
"""Links berth with the Swift runtime and Foundation statically, from the objects of the ordinary build.

SwiftPM's --static-swift-stdlib recompiles modules against the static resource directory, and a later
ordinary build does not recompile them back: their autolink entries then name static-only libraries
(CoreFoundation, _FoundationCShims) and every later dynamic link fails. So nothing is compiled here: the
link command SwiftPM recorded for the `berth` product (in .build/<configuration>.yaml) is run again with
-static-stdlib and Foundation's static dependencies, writing the binary elsewhere.

The link is laid out for a small resident set (an idle `berth agent` went from 46 to 30 MiB resident):
- lld instead of gold, with the functions packaging/agent-order.txt names placed first and together
  (--symbol-ordering-file; the list is made by profile-agent.sh). The kernel maps a binary's code in
  windows of at least 64 KiB around each page used; laid out by module, the few functions an agent uses
  of each of hundreds of objects pulled in 22 of the 34 MiB of code.
- The symbols are not exported (--no-export-dynamic): nothing loads code that would look them up, and
  the dynamic symbol table was 2.8 MiB read at start.
- Relative relocations packed (-z pack-relative-relocs, DT_RELR, glibc 2.36): 3.5 MiB of .rela.dyn
  become 30 KiB. The binary stays position-independent, for address-space randomisation.

  packaging/link-static.py CONFIGURATION OUTPUT
"""
import json
import pathlib
import subprocess
import sys

FOUNDATION_CLOSURE = ["Foundation", "FoundationEssentials", "FoundationInternationalization", "CoreFoundation",
                      "_FoundationICU", "_FoundationCShims", "_FoundationCollections", "swiftSynchronization"]


def recorded_link(manifest, configuration):
    """The argument list of the `berth` executable's link command in SwiftPM's build manifest: the command
    of a `.exe` node that emits an executable of module `berth`."""
    lines = manifest.read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not (stripped.startswith('"C.berth-') and stripped.endswith(f"-{configuration}.exe\":")):
            continue
        for following in lines[number + 1:number + 12]:
            following = following.strip()
            if following.startswith("args:"):
                arguments = json.loads(following[len("args:"):])
                module = arguments[arguments.index("-module-name") + 1] if "-module-name" in arguments else None
                if module == "berth" and "-emit-executable" in arguments:
                    return arguments
                break
    raise SystemExit(f"link-static: no link command for berth in {manifest}; was it built with this Swift?")


def main():
    configuration, output = sys.argv[1], sys.argv[2]
    repository = pathlib.Path(__file__).resolve().parent.parent
    arguments = recorded_link(repository / ".build" / f"{configuration}.yaml", configuration)
    arguments[arguments.index("-o") + 1] = output
    group = ["-Xlinker", "--start-group"]
    for library in FOUNDATION_CLOSURE:
        group += ["-Xlinker", f"-l{library}"]
    group += ["-Xlinker", "--end-group"]
    # The static standard library's link warns about mktemp in FoundationEssentials; errors still fail.
    arguments = [argument for argument in arguments if argument != "-warnings-as-errors"]
    layout = ["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]
    order = repository / "packaging" / "agent-order.txt"
    if order.exists():
        # Names the list has and this build lacks (a debug build's, an older list's) are left out quietly.
        layout += ["-Xlinker", f"--symbol-ordering-file={order}", "-Xlinker", "--no-warn-symbol-ordering"]
    completed = subprocess.run(arguments + ["-static-stdlib"] + group + layout)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
