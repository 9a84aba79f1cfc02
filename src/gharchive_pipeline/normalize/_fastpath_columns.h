/* GENERATED from src/gharchive_pipeline/schema.py by normalize/native_columns.py
 * (python tools/generate_terraform_inputs.py): do not edit. The columns the C kernel fills,
 * in the order it returns them; the lineage columns are added in Python. */
#ifndef GHARCHIVE_FASTPATH_COLUMNS_H
#define GHARCHIVE_FASTPATH_COLUMNS_H

enum {
    C_ID,
    C_TYPE,
    C_PUBLIC,
    C_CREATED_AT,
    C_ACTOR_ID,
    C_ACTOR_LOGIN,
    C_REPO_ID,
    C_REPO_NAME,
    C_ORG_ID,
    C_ORG_LOGIN,
    C_PAYLOAD,
    C_OTHER,
    C_ACTION,
    C_REF,
    C_REF_TYPE,
    C_PUSH_SIZE,
    C_PUSH_DISTINCT_SIZE,
    C_NUMBER,
    C_PR_MERGED,
    C_IS_BOT,
    NCOLS
};

/* 's' string, 'i' int64 (and timestamps, in microseconds), 'b' bool */
static const char KINDS[NCOLS + 1] = "ssbiisisissssssiiibb";

static const char *const COLUMN_NAMES[NCOLS] = {
    "id",
    "type",
    "public",
    "created_at",
    "actor_id",
    "actor_login",
    "repo_id",
    "repo_name",
    "org_id",
    "org_login",
    "payload",
    "other",
    "action",
    "ref",
    "ref_type",
    "push_size",
    "push_distinct_size",
    "number",
    "pr_merged",
    "is_bot",
};

#endif
