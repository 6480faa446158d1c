// Run by the compose service mongo-init (mongosh, as root on mongo1). Idempotent.
try {
  rs.status();
} catch (e) {
  rs.initiate({_id: "rs0", members: [
    {_id: 0, host: "mongo1:27017"}, {_id: 1, host: "mongo2:27017"}, {_id: 2, host: "mongo3:27017"}]});
}
// Users are written on the primary: wait until this member is it.
while (!db.hello().isWritablePrimary) { sleep(1000); }
const admin = db.getSiblingDB("admin");
if (!admin.getUser("youthdesk")) {
  admin.createUser({user: "youthdesk", pwd: process.env.MONGO_APP_PASSWORD,
                    roles: [{role: "readWrite", db: "youthdesk"}, {role: "readWrite", db: "rasa"}]});
}
