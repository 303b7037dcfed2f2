// Least-privilege MongoDB users: one per service, each with a role that reaches only the
// collections that service uses, with only the actions it needs (Docs/security.md).
// The provider services come from configs/providers.json: `make manifests` writes
// deploy/generated/mongodb/roles.js, this file preceded by PHOTOCHANGER_PROVIDERS (the provider
// ids). Run that one, once per database, with mongosh as a user administrator, giving a
// password for every service (api, dispatcher, ttl-reaper and provider-<id> of each provider):
//
//   mongosh "$ADMIN_URI" --eval 'load("deploy/generated/mongodb/roles.js");
//     createPhotochangerUsers("photochanger", {api: "...", dispatcher: "...",
//       "ttl-reaper": "...", "provider-gemini": "...", ...})'
//
// Then give each service its own URI (Secret photochanger-<service>-secrets,
// PHOTOCHANGER_MONGODB_URI=mongodb://photochanger-<service>:<password>@host/photochanger?authSource=photochanger).
// tests/deploy checks that every collection the code names is granted here and runs the
// generated file against a stand-in database: a user per service of the catalogue.

const RW = ["find", "insert", "update", "remove", "createIndex"];
const READ = ["find"];

// the core services
const PHOTOCHANGER_CORE_ROLES = {
  api: {
    // create, finalize at the deadline, cancel; admin views read everything about jobs
    jobs_live: RW, jobs: ["find", "insert", "createIndex"], job_claims: ["find", "createIndex"],
    workers: ["find", "createIndex"], processing_logs: ["find", "insert", "createIndex"],
    // configuration the admin API edits, login throttle, statistics resets
    slots: RW, slot_versions: RW, settings: RW, settings_versions: RW, template_media: RW,
    media_links: RW, login_failures: RW, slot_stats_resets: RW,
    // the console's share links: created, looked up, long-expired ones swept by the creator
    share_links: ["find", "insert", "remove", "createIndex"],
    // console sessions (admin/sessions.py): started, refreshed, ended
    admin_sessions: ["find", "insert", "update", "remove"],
    // each provider's breaker, budget use and spend, as its admission owner wrote them
    provider_health: READ,
  },
  dispatcher: {
    // rejects a job it cannot route: final record, retire the live one
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "createIndex"],
    job_claims: ["find", "createIndex"], workers: ["find", "createIndex"],
    processing_logs: ["insert", "createIndex"],
    // admission owners write their provider's health by `_id` and read the day's spend back
    provider_health: ["find", "insert", "update"],
  },
  "ttl-reaper": {
    // deadlines of live jobs, expiry of links, results and orphaned templates
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "update", "createIndex"],
    job_claims: ["find", "createIndex"], workers: ["find", "createIndex"],
    processing_logs: ["insert", "createIndex"], media_links: RW, template_media: READ,
    settings: READ,
  },
};

// every provider service alike (they all run photochanger_runtime.providers.service): claim and
// run jobs, finalize them, read the settings and templates, make public media links
const PHOTOCHANGER_PROVIDER_ROLE = {
  jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "createIndex"],
  job_claims: RW, workers: RW, processing_logs: ["find", "insert", "createIndex"],
  settings: READ, template_media: READ, media_links: RW,
};

// service -> {collection: actions}: the core services and provider-<id> of every provider
function photochangerRoles() {
  if (typeof PHOTOCHANGER_PROVIDERS === "undefined") {
    throw new Error(
      "PHOTOCHANGER_PROVIDERS is not declared: load deploy/generated/mongodb/roles.js " +
      "(`make manifests`), not deploy/mongodb/roles.js",
    );
  }
  const roles = { ...PHOTOCHANGER_CORE_ROLES };
  for (const provider of PHOTOCHANGER_PROVIDERS) {
    roles[`provider-${provider}`] = PHOTOCHANGER_PROVIDER_ROLE;
  }
  return roles;
}

function createPhotochangerUsers(database, passwords) {
  const roles = photochangerRoles();
  const missing = Object.keys(roles).filter((service) => !passwords[service]);
  if (missing.length > 0) {
    throw new Error(`no password for ${missing.join(", ")}`);
  }
  const target = db.getSiblingDB(database);
  for (const [service, collections] of Object.entries(roles)) {
    const role = `photochanger-${service}`;
    const privileges = Object.entries(collections).map(([collection, actions]) => ({
      resource: { db: database, collection }, actions,
    }));
    if (target.getRole(role)) {
      target.updateRole(role, { privileges, roles: [] });
    } else {
      target.createRole({ role, privileges, roles: [] });
    }
    const user = `photochanger-${service}`;
    if (target.getUser(user)) {
      target.updateUser(user, { pwd: passwords[service], roles: [role] });
    } else {
      target.createUser({ user, pwd: passwords[service], roles: [role] });
    }
  }
}
