SELECT id, type, public, created_at, actor_id, actor_login, repo_id, repo_name, org_id, org_login, payload, other, action, ref, ref_type, push_size, push_distinct_size, number, pr_merged, is_bot, source_hour, schema_era, ingested_at, pipeline_version FROM (
  SELECT id, type, public, created_at, actor_id, actor_login, repo_id, repo_name, org_id, org_login, payload, other, action, ref, ref_type, push_size, push_distinct_size, number, pr_merged, is_bot, source_hour, schema_era, ingested_at, pipeline_version,
    ROW_NUMBER() OVER (PARTITION BY id, created_at ORDER BY source_hour ASC, ingested_at DESC, pipeline_version DESC) AS _copy
  FROM `__GHARCHIVE_DATASET__.events`
) WHERE _copy = 1
