-- Entrusted's staff-login gate for Dovecot 2.3: the master passdb (driver = lua, master = yes).
--
-- A staff member logs in as "customer-address*staffname" with their own password. Dovecot
-- calls auth_password_verify with the staff name as req.user and the customer's address as
-- %{login_user}; this script asks Entrusted (POST /v1/gate/mail-login with the mail_hook
-- service token), which checks the password, consumes a session of the staff member's grant
-- for that mailbox and ledgers it. 200 = allow, 403 = deny, anything else (Entrusted down,
-- a bad token) = temporary failure: fail closed, and customers are not affected.
--
-- An allowed login is put in one ACL group (the userdb field acl_groups): read-write only
-- when Entrusted's answer says "read_only":false, read-only otherwise. The global ACL file
-- (`entrusted mail dovecot-config --acl`) gives each group its rights; a master user in no
-- group has none (docs/mail.md). Staff log in over IMAP only: POP3 (DELE), ManageSieve or
-- submission would be ways around the ACLs or past the grant, so those are refused here,
-- before Entrusted is asked.
--
-- Dovecot 2.3 passes no parameters but `file` and `blocking` to a Lua passdb, so settings
-- come from a file next to this script with ".conf" for ".lua" (`entrusted mail
-- dovecot-config` prints both), lines of `key = value`:
--   url = http://127.0.0.1:8000/v1/gate/mail-login
--   token_file = /etc/dovecot/entrusted/mail_hook.token
--   timeout = 3000

local settings = {
  url = "http://127.0.0.1:8000/v1/gate/mail-login",
  token_file = "/etc/dovecot/entrusted/mail_hook.token",
  timeout = "3000",
}
local client = nil

-- The same names as READ_ONLY_GROUP / READ_WRITE_GROUP in adapters/mail/dovecot.py.
local READ_ONLY_GROUP = "entrusted-staff-read-only"
local READ_WRITE_GROUP = "entrusted-staff-read-write"

local function json_string(value)
  local escaped = string.gsub(value, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. escaped .. '"'
end

local function read_token()
  local f = io.open(settings.token_file, "r")
  if f == nil then
    return nil
  end
  local token = f:read("*l")
  f:close()
  return token
end

local function read_settings()
  local script = string.gsub(debug.getinfo(1, "S").source, "^@", "")
  local f = io.open((string.gsub(script, "%.lua$", "") .. ".conf"), "r")
  if f == nil then
    return
  end
  for line in f:lines() do
    local key, value = string.match(line, "^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if key ~= nil and settings[key] ~= nil then
      settings[key] = value
    end
  end
  f:close()
end

-- Dovecot 2.3 calls script_init() once per process; settings and the client are made there.
function script_init()
  read_settings()
  client = dovecot.http.client {
    timeout = tonumber(settings.timeout);
    max_attempts = 1;
    debug = false;
  }
  return 0
end

function script_deinit()
end

function auth_password_verify(req, password)
  if req:var_expand("%{service}") ~= "imap" then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "staff log in over IMAP only"
  end
  local token = read_token()
  if token == nil or token == "" then
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "entrusted token file unreadable: " .. settings.token_file
  end
  local target = req:var_expand("%{login_user}")
  local body = "{" ..
    '"target":' .. json_string(target) .. "," ..
    '"staff":' .. json_string(req.user) .. "," ..
    '"password":' .. json_string(password) .. "," ..
    '"remote_ip":' .. json_string(tostring(req.remote_ip or "")) .. "}"
  local request = client:request { url = settings.url; method = "POST"; }
  request:add_header("Content-Type", "application/json")
  request:add_header("Authorization", "Bearer " .. token)
  request:set_payload(body)
  local response = request:submit()
  local status = response:status()
  local payload = response:payload()
  if status == 200 and string.find(payload, '"allow":true', 1, true) then
    local group = READ_ONLY_GROUP
    if string.find(payload, '"read_only":false', 1, true) then
      group = READ_WRITE_GROUP
    end
    return dovecot.auth.PASSDB_RESULT_OK, "userdb_acl_groups=" .. group
  end
  if status == 403 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "no active grant or wrong password"
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "entrusted answered " .. tostring(status)
end
