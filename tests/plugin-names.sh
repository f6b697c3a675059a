#!/bin/sh
# tests/plugin-names.sh SOURCE_DIR — the plugin rule: code outside a neuron model's,
# projection kind's or learning rule's own file never compares that plugin's name; it asks
# the plugin's ops table (neurons/oz-neuron.h, neurons/oz-kind.h, plasticity/oz-rule.h).
# Fails, listing them, when a line of engine/, feedback/, plasticity/, io/, sim/ or the core
# of neurons/ (every file but oz-model-*.c and oz-kind-*.c) compares a string with the name
# of a built-in model or kind.  The one allowed line parses [run] delivery, whose value
# "dense" is a delivery mode, not the kind.
set -eu
cd "$1"
names='"\(lif\|if\|readout\|dense\|conv2d\|sparse\|input\|events\|cubalif\)"'
compare='\(strcmp\|strncmp\|g_strcmp0\|g_str_equal\|strcasecmp\|g_ascii_strcasecmp'
compare=$compare'\|g_str_has_prefix\)'
found=$(grep -n "$compare *([^;]*$names" \
          engine/*.[ch] feedback/*.[ch] plasticity/*.[ch] io/*.[ch] sim/*.[ch] \
          $(ls neurons/*.[ch] | grep -v 'neurons/oz-model-\|neurons/oz-kind-') |
        grep -v '^sim/oz-run.c:[0-9]*:    if (g_strcmp0(s, "dense") == 0)$' || true)
if [ -n "$found" ]; then
  echo "name comparisons of plugins outside their own files (ask the ops table instead):"
  echo "$found"
  exit 1
fi
echo "ok: no plugin name is compared outside its plugin's file"
