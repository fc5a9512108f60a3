-- Argo CD health of a shardcast ShardMigration: a move in flight is Progressing, one waiting for
-- approval (or a dry run) is Suspended, Active is Healthy, a rollback or failure is Degraded.
hs = {}
local phase = "Pending"
local reason = ""
local message = ""
if obj.status ~= nil then
  phase = obj.status.phase or "Pending"
  for _, condition in ipairs(obj.status.conditions or {}) do
    if condition.type == "Ready" then
      reason = condition.reason or ""
      message = condition.message or ""
    end
  end
end
hs.message = phase .. ": " .. message
if phase == "Active" then
  hs.status = "Healthy"
elseif phase == "RolledBack" or phase == "Failed" then
  hs.status = "Degraded"
elseif reason == "AwaitingApproval" or reason == "DryRun" or reason == "Rejected" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
return hs
