// Least-privilege MongoDB users: one per service, each with a role that reaches only the
// collections that service uses, with only the actions it needs (Docs/security.md).
// Run once per database with mongosh as a user administrator:
//
//   mongosh "$ADMIN_URI" --file deploy/mongodb/roles.js \
//     --eval 'createPhotochangerUsers("photochanger", {api: "...", dispatcher: "...", ...})'
//
// Then give each service its own URI (Secret photochanger-<service>-secrets,
// PHOTOCHANGER_MONGODB_URI=mongodb://photochanger-<service>:<password>@host/photochanger?authSource=photochanger).
// tests/deploy checks that every collection the code names is granted here.

const RW = ["find", "insert", "update", "remove", "createIndex"];
const READ = ["find"];


const PHOTOCHANGER_ROLES = {
  api: {
    // create, finalize at the deadline, cancel; admin views read everything about jobs
    jobs_live: RW, jobs: ["find", "insert", "createIndex"], job_claims: ["find", "createIndex"],
    workers: ["find", "createIndex"], processing_logs: ["find", "insert", "createIndex"],
    // configuration the admin API edits, login throttle, statistics resets
    slots: RW, slot_versions: RW, settings: RW, settings_versions: RW, template_media: RW,
    media_links: RW, login_failures: RW, slot_stats_resets: RW,
    // the console's share links: created, looked up, long-expired ones swept by the creator
    share_links: ["find", "insert", "remove", "createIndex"],
  },
  dispatcher: {
    // rejects a job it cannot route: final record, retire the live one
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "createIndex"],
    job_claims: ["find", "createIndex"], workers: ["find", "createIndex"],
    processing_logs: ["insert", "createIndex"],
  },
  "provider-gemini": {
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "createIndex"],
    job_claims: RW, workers: RW, processing_logs: ["find", "insert", "createIndex"],
    settings: READ, template_media: READ, media_links: RW,
  },
  "provider-turbotext": {
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "createIndex"],
    job_claims: RW, workers: RW, processing_logs: ["find", "insert", "createIndex"],
    settings: READ, template_media: READ, media_links: RW,
  },
  "ttl-reaper": {
    // deadlines of live jobs, expiry of links, results and orphaned templates
    jobs_live: ["find", "remove", "createIndex"], jobs: ["find", "insert", "update", "createIndex"],
    job_claims: ["find", "createIndex"], workers: ["find", "createIndex"],
    processing_logs: ["insert", "createIndex"], media_links: RW, template_media: READ,
    settings: READ,
  },
};

function createPhotochangerUsers(database, passwords) {
  const target = db.getSiblingDB(database);
  for (const [service, collections] of Object.entries(PHOTOCHANGER_ROLES)) {
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
