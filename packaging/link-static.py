#!/usr/bin/env python3
"""Links berth with the Swift runtime and Foundation statically, from the objects of the ordinary build.

SwiftPM's --static-swift-stdlib recompiles modules against the static resource directory, and a later
ordinary build does not recompile them back: their autolink entries then name static-only libraries
(CoreFoundation, _FoundationCShims) and every later dynamic link fails. So nothing is compiled here: the
link command SwiftPM recorded for the `berth` product (in .build/<configuration>.yaml) is run again with
-static-stdlib and Foundation's static dependencies, writing the binary elsewhere.

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
    completed = subprocess.run(arguments + ["-static-stdlib"] + group)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
