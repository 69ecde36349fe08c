#!/usr/bin/env bash
# kjv_text.sh OUT: the King James Bible (public domain) as plain text from Debian's
# bible-kjv-text package, one chapter per paragraph ("Genesis 1" heading line, then the verses
# joined by spaces, verse numbers removed), paragraphs separated by blank lines.
set -euo pipefail
out=${1:?usage: kjv_text.sh OUT}
if ! command -v bible >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y -qq bible-kjv >/dev/null
fi
bible -l100000 "gen1:1-rev22:21" | awk '
    /^$/ { next }
    /^[A-Za-z0-9 ]+ [0-9]+$/ && !/^ / { if (n) print buf "\n"; buf = $0 "\n"; n = 0; next }
    { sub(/^ *[0-9]+ /, ""); buf = buf (n ? " " : "") $0; n++ }
    END { if (n) print buf }
' > "$out.tmp"
mv "$out.tmp" "$out"
