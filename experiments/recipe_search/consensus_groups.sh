# The ninth round's consensus probe (docs/recipe_search.md) on the trained runs it names, kept under runs/ by the
# benchmarks that trained them:  bash benchmarks/recipe_search/consensus_groups.sh average|kmeans
cd "$(dirname "$0")/../.." || exit 1
M=${1:-average}
R=runs/fsdd_restarts_pseudo_speakers; C=runs/fsdd_restarts_pseudo_speakers_candidates; P=runs/fsdd_clustering_pseudo_speakers
python benchmarks/recipe_search/consensus_groups.py --method $M --group $R/uvac_seed0.keras $C/uvac_seed1.keras $C/uvac_seed2.keras \
  --group $R/uvac_seed1.keras $C/uvac_seed4.keras $C/uvac_seed5.keras --group $C/uvac_seed6.keras $R/uvac_seed2.keras $C/uvac_seed8.keras \
  --group $P/uvac_seed0.keras $P/uvac_seed1.keras $P/uvac_seed2.keras \
  --group saved_models/uvac_fsdd.keras runs/fsdd/uvac_seed1.keras runs/fsdd/uvac_seed2.keras \
  --group $R/uvac_seed0.keras $C/uvac_seed1.keras $C/uvac_seed2.keras $R/uvac_seed1.keras $C/uvac_seed4.keras $C/uvac_seed5.keras $C/uvac_seed6.keras $R/uvac_seed2.keras $C/uvac_seed8.keras \
  --json benchmarks/recipe_search/results/consensus_groups_fsdd_$M.json
S=runs/synthetic_pseudo_speakers_gmm; I=runs/synthetic_speaker_runs_ids
python benchmarks/recipe_search/consensus_groups.py --method $M --data runs/synthetic_digits --group $S/uvac_seed0.keras $S/uvac_seed1.keras $S/uvac_seed2.keras \
  --group $I/uvac_seed0.keras $I/uvac_seed1.keras $I/uvac_seed2.keras \
  --json benchmarks/recipe_search/results/consensus_groups_synthetic_$M.json
