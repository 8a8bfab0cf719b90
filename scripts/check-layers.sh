#!/usr/bin/env bash
# check-layers: includes point down only (DESIGN.md §11, docs/architecture.md).
#
# Every `#include "x/..."` in a file under src/<layer>/ must name a layer at
# or below <layer>. src/http/handlers counts as http; src/cli is a top-level
# tool layer, level with app. An include of a folder that is not a layer,
# or a file in a folder that is not one, fails too, so a new folder has to
# be given its place here. Exit 0 when clean, 1 with one line per breach.
set -euo pipefail

root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
cd "$root/src"

# Higher number = higher layer.
declare -A rank=(
    [app]=9 [cli]=9
    [http]=8
    [integrations]=7
    [render]=6
    [auth]=5
    [pool]=4
    [store]=3
    [domain]=2
    [core]=1
)

bad=0
while IFS= read -r -d '' file; do
    layer=${file%%/*}
    if [[ $file != */* || -z ${rank[$layer]:-} ]]; then
        echo "check-layers: $file is not inside a known layer folder" >&2
        bad=1
        continue
    fi
    while IFS= read -r hit; do
        lineno=${hit%%:*}
        target=$(sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"/]+)\/.*/\1/' <<<"$hit")
        if [[ -z ${rank[$target]:-} ]]; then
            echo "check-layers: src/$file:$lineno includes from unknown folder '$target'" >&2
            bad=1
        elif ((rank[$target] > rank[$layer])); then
            echo "check-layers: src/$file:$lineno: $layer must not include $target (a higher layer)" >&2
            bad=1
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"/]+/' "$file" || true)
done < <(find . -type f \( -name '*.c' -o -name '*.h' \) -printf '%P\0' | sort -z)

if ((bad)); then
    echo "check-layers: FAILED (layer order: app|cli > http > integrations > render > auth > pool > store > domain > core)" >&2
    exit 1
fi
echo "check-layers: ok"
