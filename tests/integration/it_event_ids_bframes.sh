#!/usr/bin/env bash
# it_event_ids.sh over footage with B-frames (the emulator encodes -bf 2):
# event ids the same across a takeover replay, and every analysed frame's
# producer time its own picture's (packet producer time + picture pts -
# packet pts), rising with pts (issue 28).
BFRAMES=2 exec bash "$(dirname "$0")/it_event_ids.sh"
