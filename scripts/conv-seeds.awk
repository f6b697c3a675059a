# scripts/conv-seeds.awk — called by scripts/conv-study.sh.  Reads lines
# "scenario|seed|accuracy|total hidden rate|SynOps per sample" (one per finished run; a field
# may be empty) and writes, in markdown, the last test accuracy of every scenario in every
# seed, then the orderings docs/RESULTS.md asks about, seed by seed.  An ordering "holds"
# only when it holds in every seed where both of its runs have finished.
function pct(x) { return sprintf("%.2f", 100 * x) }
{
  sc = $1; sd = $2
  if (!(sc in seen_sc)) { seen_sc[sc] = 1; scs[++nsc] = sc }
  if (!(sd in seen_sd)) { seen_sd[sd] = 1; sds[++nsd] = sd }
  key = sc SUBSEP sd
  if ($3 != "") acc[key] = $3
  if ($4 != "") rate[key] = $4
  if ($5 != "") synops[key] = $5
}
# "a − b" in points for one seed, or "" when either run is missing
function gap(a, b, sd) {
  if (!((a SUBSEP sd) in acc) || !((b SUBSEP sd) in acc)) return ""
  return 100 * (acc[a SUBSEP sd] - acc[b SUBSEP sd])
}
# the scenario of the paper's Table 7 (BP, DFA and OPZO, with and without LL) with the
# smallest value of arr in seed sd ("" unless OPZO w/ LL and at least one other have it)
function lowest(arr, sd,   i, best, k, n) {
  best = ""; n = 0
  for (i = 1; i <= nsc; i++) {
    k = scs[i] SUBSEP sd
    if (!(k in arr) || !(scs[i] in table7)) continue
    n++
    if (best == "" || arr[k] < arr[best SUBSEP sd]) best = scs[i]
  }
  return n >= 2 && (("opzo-ll" SUBSEP sd) in arr) ? best : ""
}
# one row of the orderings table: a claim that is a signed gap with a test
function gap_row(text, a, b, op, limit,   i, g, cells, n, ok) {
  cells = ""; n = 0; ok = 1
  for (i = 1; i <= nsd; i++) {
    g = gap(a, b, sds[i])
    if (g == "") { cells = cells " – |"; continue }
    n++
    cells = cells sprintf(" %+.2f |", g)
    if (op == "above" && !(g > limit)) ok = 0
    if (op == "within" && !(g <= limit && g >= -limit)) ok = 0
  }
  printf "| %s |%s %s |\n", text, cells, verdict(n, ok)
}
function verdict(n, ok) {
  if (n == 0) return "not run"
  return (ok ? "holds" : "does not hold") sprintf(" (%d seed%s)", n, n == 1 ? "" : "s")
}
function lowest_row(text, arr,   i, low, cells, n, ok) {
  cells = ""; n = 0; ok = 1
  for (i = 1; i <= nsd; i++) {
    low = lowest(arr, sds[i])
    if (low == "") { cells = cells " – |"; continue }
    n++
    cells = cells " " low " |"
    if (low != "opzo-ll") ok = 0
  }
  printf "| %s |%s %s |\n", text, cells, verdict(n, ok)
}
END {
  split("bp bp-ll dfa dfa-ll opzo opzo-ll", t7, " ")
  for (i in t7) table7[t7[i]] = 1
  if (nsc == 0) { print "no finished run yet"; exit }
  for (i = 2; i <= nsd; i++)          # seeds in numeric order
    for (j = i; j > 1 && sds[j - 1] + 0 > sds[j] + 0; j--) { t = sds[j]; sds[j] = sds[j - 1]; sds[j - 1] = t }
  head = "| scenario |"; rule = "|---|"
  for (i = 1; i <= nsd; i++) { head = head " seed " sds[i] " |"; rule = rule "---:|" }
  print head " mean |"; print rule "---:|"
  for (j = 1; j <= nsc; j++) {
    line = "| " scs[j] " |"; sum = 0; n = 0
    for (i = 1; i <= nsd; i++) {
      k = scs[j] SUBSEP sds[i]
      if (k in acc) { line = line " " pct(acc[k]) " |"; sum += acc[k]; n++ }
      else line = line " – |"
    }
    print line " " (n ? pct(sum / n) : "–") " |"
  }
  print ""
  print "Test accuracy (%) at the last epoch. The paper's orderings, seed by seed (gaps in points; \"lowest\" names the run with the smallest value among the finished runs of that seed that Table 7 of the paper compares: BP, DFA and OPZO, with and without LL):"
  print ""
  head = "| ordering |"; rule = "|---|"
  for (i = 1; i <= nsd; i++) { head = head " seed " sds[i] " |"; rule = rule "---:|" }
  print head " verdict |"; print rule "---|"
  gap_row("OPZO w/ LL within 1 point of BP w/ LL", "opzo-ll", "bp-ll", "within", 1)
  gap_row("OPZO above DFA", "opzo", "dfa", "above", 0)
  gap_row("OPZO above DKP", "opzo", "dkp", "above", 0)
  gap_row("OPZO w/ LL above DFA w/ LL", "opzo-ll", "dfa-ll", "above", 0)
  gap_row("OPZO w/ LL above DKP w/ LL", "opzo-ll", "dkp-ll", "above", 0)
  gap_row("ZO more than 5 points below OPZO", "opzo", "zo", "above", 5)
  lowest_row("OPZO w/ LL has the lowest total hidden firing rate", rate)
  lowest_row("OPZO w/ LL has the fewest SynOps per sample", synops)
}
