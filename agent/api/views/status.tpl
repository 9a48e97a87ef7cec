<!DOCTYPE html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{m['health']['title']}} · {{tr('title', box=m['box']['id'])}}</title>
% if refresh > 0:
<noscript><meta http-equiv="refresh" content="{{int(refresh)}}"></noscript>
% end
<style>
*{box-sizing:border-box}
body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#000;background:#f2f2f2}
main{max-width:1280px;margin:0 auto;padding:0 10px 24px}
h1,h2,h3{margin:0}
h2{font-size:1.15rem;margin:20px 0 8px}
.banner{padding:12px 14px;border-bottom:4px solid #000}
.banner h1{font-size:1.6rem;letter-spacing:.02em}
.banner ul{margin:4px 0 0;padding-left:1.2em;font-weight:600}
.banner p{margin:4px 0 0;font-weight:600}
.h-green{background:#0b6b2b;color:#fff}
.h-amber{background:#ffc21a;color:#000}
.h-red{background:#b00020;color:#fff}
.weak{margin:0;padding:8px 14px;background:#000;color:#ffc21a;font-weight:700;border-bottom:4px solid #ffc21a}
.flash,.stale{margin:10px 0 0;padding:8px 10px;border:2px solid #000;background:#fff;font-weight:600}
.stale{background:#ffe08a}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:6px;margin:10px 0 0}
.facts div{background:#fff;border:1px solid #888;padding:4px 8px;overflow-wrap:anywhere}
.facts b{display:block;font-size:.8rem;color:#333;font-weight:600;text-transform:uppercase}
.bad{color:#b00020;font-weight:700}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.tile{background:#fff;border:1px solid #666;border-left:10px solid #666;padding:8px 10px}
.l-ok{border-left-color:#0b6b2b}.l-warn{border-left-color:#e0a000}.l-bad{border-left-color:#b00020}
.l-off{border-left-color:#555;background:#e6e6e6}
.tile h3{font-size:1.15rem;display:flex;flex-wrap:wrap;gap:6px;align-items:baseline}
.prov{font-size:.85rem;font-weight:400;color:#333}
.badge{margin-left:auto;font-size:.85rem;padding:1px 8px;border-radius:3px;color:#fff}
.b-ok{background:#0b6b2b}.b-warn{background:#e0a000;color:#000}.b-bad{background:#b00020}.b-off{background:#555}
.hint{margin:6px 0;padding:6px 8px;font-weight:700;background:#fde2e4;border:2px solid #b00020}
.l-warn .hint{background:#fff2c6;border-color:#e0a000}.l-off .hint{background:#fff;border-color:#555}
.step{margin:0 0 4px;font-size:.9rem}
.dev{margin:2px 0 4px;font-size:.85rem;color:#333;overflow-wrap:anywhere}
dl.kv{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:6px 0}
dl.kv dt{color:#333}
dl.kv dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.bars{display:inline-flex;gap:2px;align-items:flex-end;height:14px;margin-right:6px;vertical-align:-1px}
.bars i{width:5px;background:#bbb}.bars i.on{background:#000}
.q{margin:6px 0 0}
.q span{display:flex;justify-content:space-between}
.bar{height:10px;background:#ddd;border:1px solid #666}
.bar i{display:block;height:100%;background:#0b6b2b}
.bar i.full{background:#b00020}
.small{font-size:.85rem;color:#333;margin:4px 0 0}
.acts{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
button,.btn{display:inline-flex;align-items:center;justify-content:center;min-height:44px;min-width:44px;
 padding:6px 14px;font:inherit;font-size:.95rem;border:2px solid #000;background:#fff;color:#000;cursor:pointer;
 text-decoration:none}
.top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:6px;margin:8px 0 0}
.top span{font-weight:600}
.nums{display:grid;grid-template-columns:repeat(4,1fr);gap:6px}
.nums div{background:#fff;border:1px solid #888;padding:6px;text-align:center}
.nums b{display:block;font-size:1.5rem}
ol.msgs{list-style:none;margin:0;padding:0;background:#fff;border:1px solid #888}
ol.msgs li{padding:5px 8px;border-top:1px solid #ccc;overflow-wrap:anywhere}
ol.msgs li:first-child{border-top:0}
.t{color:#333;font-size:.85rem;margin-right:6px}
.muted{color:#444;font-style:italic}
footer{margin-top:20px;padding-top:10px;border-top:1px solid #888}
footer form{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:6px 0}
#login:target{outline:3px solid #003a8c;outline-offset:4px}
input{font:inherit;min-height:44px;padding:5px 8px;border:2px solid #000;max-width:160px}
.machine a{display:inline-flex;align-items:center;min-height:44px;min-width:44px;padding:0 6px}
a{color:#003a8c}
@media (max-width:420px){.nums{grid-template-columns:repeat(2,1fr)}.banner h1{font-size:1.4rem}}
</style>
<script nonce="{{nonce}}">
(function () {
  // Reload the data in place so the reader keeps their scroll position; skip a
  // turn while they use a form; say so when the box stops answering.
  var every = {{float(refresh)}};
  if (location.search) history.replaceState(null, "", location.pathname);
  if (!(every > 0) || !window.fetch) return;
  setInterval(function () {
    var a = document.activeElement;
    if (a && /^(INPUT|BUTTON|SELECT|TEXTAREA)$/.test(a.tagName)) return;
    var typed = document.querySelector("#login input[name=username]");
    if (typed && typed.value) return;
    fetch(location.pathname, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, "text/html"), x = scrollX, y = scrollY;
      document.title = doc.title;
      document.body.replaceWith(doc.body);
      scrollTo(x, y);
    }).catch(function () {
      var e = document.getElementById("stale");
      if (e) { e.textContent = e.dataset.text.replace("{time}", new Date().toLocaleTimeString()); e.hidden = false; }
    });
  }, every * 1000);
})();
</script>
</head>
<body>
% h = m['health']
<header class="banner h-{{h['level']}}" id="health" data-level="{{h['level']}}">
<h1>{{h['title']}}</h1>
% if len(h['reasons']) > 1:
<ul>
% for r in h['reasons']:
<li>{{r['text']}}</li>
% end
</ul>
% else:
<p>{{h['summary']}}</p>
% end
</header>
% if weak:
% keys = ', '.join('%s (%s)' % (key, tr('weak_' + why)) for key, why in weak)
<p class="weak" id="weak" role="alert">{{tr('weak_banner', keys=keys)}}</p>
% end
<main>
<nav class="top" id="top">
% if user:
<span>{{tr('logged_in_as', user=user)}}</span>
<form method="post" action="/status/logout"><input type="hidden" name="csrf" value="{{csrf}}">
<button type="submit">{{tr('logout')}}</button></form>
% elif login_enabled:
<span>{{tr('read_only_view')}}</span><a class="btn" id="to-login" href="#login">{{tr('login')}}</a>
% else:
<span>{{tr('read_only')}}</span>
% end
</nav>
<p id="stale" class="stale" hidden data-text="{{tr('stale', time='{time}')}}"></p>
% if flash:
<p class="flash" id="flash">{{flash}}</p>
% end
% b = m['box']
<section class="facts" id="facts">
<div><b>{{tr('box')}}</b>{{b['id']}}</div>
<div><b>{{tr('version')}}</b>{{b['version']}}</div>
<div><b>{{tr('uptime')}}</b>{{tr.duration(b['uptime_seconds'])}}</div>
<div><b>{{tr('clock')}}</b>{{b['now'][:10]}} {{b['now'][11:19]}} {{b['timezone']}}{{'' if b['timezone'] == 'UTC' else ' (UTC%s)' % b['utc_offset']}}
% if not b['clock_ok']:
<br><span class="bad">{{tr('clock_wrong')}}</span>
% end
</div>
% q = m['mqtt']
<div><b>{{tr('mqtt')}}</b>
% if not q['configured']:
{{tr('mqtt_off')}}
% elif q['connected']:
{{tr('mqtt_up', since=when(q['connected_since'])) if q['connected_since'] else tr('mqtt_up_plain')}}
% else:
<span class="bad">{{tr('mqtt_down')}}</span>{{': %s' % q['stats']['last_error'] if q['stats'].get('last_error') else ''}}
% end
</div>
% p = m['push']
<div><b>{{tr('push')}}</b>
% if p['backlog']:
{{tr('push_backlog', n=p['backlog'], age=tr.duration(p['oldest_age_seconds'] or 0))}}
% else:
{{tr('push_none')}}
% end
% if p['dropped']:
· {{tr('push_dropped', n=p['dropped'])}}
% end
</div>
% d = m['database']
<div><b>{{tr('database')}}</b>
% if d['writable']:
{{tr('db_ok')}}
% else:
<span class="bad">{{tr('db_bad')}}</span>
% end
% if d['disk_free_bytes'] is not None:
· {{tr('disk_free', free=bytes(d['disk_free_bytes']))}}
% end
</div>
</section>
<h2>{{tr('lines')}}</h2>
<div class="tiles">
% for ln in m['lines']:
<article class="tile l-{{ln['level']}}" data-line="{{ln['name']}}" data-level="{{ln['level']}}">
<h3><span>{{ln['name']}}</span>
% if ln['provider']:
<span class="prov">{{tr('provider')}}: {{ln['provider']}}</span>
% end
<span class="badge b-{{ln['level']}}">{{badge(ln)}}</span></h3>
<p class="dev">{{tr('modem_on', model=ln['model'] or tr('model_unknown'), device=ln['device'] or tr('unknown'))}}</p>
% if ln['hint']:
<p class="hint" data-hint="{{ln['hint']['code']}}">{{ln['hint']['text']}}</p>
% end
% step = recovery(ln['recovery_step']) if ln['state'] in ('recovering', 'offline') else ''
% if step:
<p class="step">{{step}}</p>
% end
% if ln['hint'] and ln['hint']['code'] == 'not_answering':
<p class="step">{{tr('last_known')}}</p>
% end
<dl class="kv">
<dt>{{tr('sim')}}</dt><dd>
% if ln['registered']:
{{tr('sim_roaming') if ln['roaming'] else tr('sim_registered')}}
% else:
<span class="bad">{{tr('sim_not_registered')}}</span>
% end
</dd>
<dt>{{tr('operator')}}</dt><dd>{{ln['operator'] or tr('unknown')}}</dd>
<dt>{{tr('signal')}}</dt><dd><span class="bars" aria-hidden="true">
% for i in range(1, 5):
<i class="{{'on' if ln['signal_bars'] >= i else ''}}" style="height:{{i * 25}}%"></i>
% end
</span>{{'%d dBm' % ln['signal_dbm'] if ln['signal_dbm'] is not None else tr('unknown')}}</dd>
<dt>{{tr('iccid')}}</dt><dd>{{'…' + ln['iccid_tail'] if ln['iccid_tail'] else tr('unknown')}}</dd>
<dt>{{tr('imei')}}</dt><dd>{{'…' + ln['imei_tail'] if ln['imei_tail'] else tr('unknown')}}</dd>
</dl>
% for label, used, limit in ((tr('today'), ln['daily_sent'], ln['daily_limit']), (tr('total'), ln['total_sent'], ln['total_limit'])):
<div class="q"><span><span>{{label}}</span><b>{{tr('quota_of', used=used, limit=limit) if limit is not None else tr('quota_unlimited', used=used)}}</b></span>
% if limit:
% pct = min(100, used * 100 // limit)
<div class="bar"><i class="{{'full' if used >= limit else ''}}" style="width:{{pct}}%"></i></div>
% end
</div>
% end
<p class="small">{{tr('messages_today', sent=ln['sent_today'], failed=ln['failed_today'])}}</p>
<dl class="kv">
<dt>{{tr('last_error')}}</dt><dd>
% e = ln['last_error']
% if e:
{{e['meaning']}}{{' (%s %d)' % (e['kind'], e['code']) if e['code'] is not None else ''}}{{', ' + when(e['at']) if e['at'] else ''}}
% else:
{{tr('none')}}
% end
</dd>
<dt>{{tr('last_send')}}</dt><dd>{{when(ln['last_send_at'], tr('never'))}}</dd>
</dl>
% if user:
<div class="acts">
% for act, key in (('disable' if ln['enabled'] else 'enable', 'act_disable' if ln['enabled'] else 'act_enable'), ('reset', 'act_reset'), ('reset-daily', 'act_reset_daily')):
<form method="post" action="/status/lines/{{ln['name']}}/{{act}}"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">{{tr(key)}}</button></form>
% end
</div>
% end
</article>
% end
</div>
% qu = m['queue']
<h2>{{tr('queue')}}</h2>
<div class="nums" id="queue">
<div><b>{{qu['unsent']}}</b>{{tr('unsent')}}</div>
<div><b>{{qu['sending']}}</b>{{tr('sending')}}</div>
<div><b>{{qu['sent_today']}}</b>{{tr('sent_today')}}</div>
<div><b>{{qu['failed_today']}}</b>{{tr('failed_today')}}</div>
</div>
<h2>{{tr('received', n=len(m['received']))}}</h2>
% if m['masked']:
<p class="small">{{tr('masked_note')}}</p>
% end
<ol class="msgs" id="received">
% for r in m['received']:
<li><span class="t">{{when(r['received_at'])}}</span><b>{{r['line'] or '?'}}</b> {{r['originator']}}: 
% if r['text'] is None:
<span class="muted">{{tr('hidden')}}</span>
% else:
{{r['text']}}
% end
</li>
% end
% if not m['received']:
<li class="muted">{{tr('no_entries')}}</li>
% end
</ol>
<h2>{{tr('calls', n=len(m['calls']))}}</h2>
<ol class="msgs" id="calls">
% for c in m['calls']:
% rang = tr('rings', n=c['rings']) if c['rings'] > 1 else tr('ring_one')
<li><span class="t">{{when(c['at'])}}</span><b>{{c['line'] or '?'}}</b> {{c['caller'] or tr('withheld')}}
· {{rang}}</li>
% end
% if not m['calls']:
<li class="muted">{{tr('no_entries')}}</li>
% end
</ol>
<h2>{{tr('failures', n=len(m['failures']))}}</h2>
<ol class="msgs" id="failures">
% for f in m['failures']:
<li><span class="t">{{when(f['at'])}}</span><b>{{f['line'] or '-'}}</b> {{f['recipient']}}: 
<span class="bad">{{f['error_meaning'] or f['failure_cause'] or '?'}}{{' (CMS %d)' % f['error_code'] if f['error_code'] is not None else ''}}</span>{{' · ' + tr('in_doubt') if f['in_doubt'] else ''}}
% if f['text'] is None:
<span class="muted">{{tr('hidden')}}</span>
% else:
— {{f['text']}}
% end
</li>
% end
% if not m['failures']:
<li class="muted">{{tr('no_entries')}}</li>
% end
</ol>
<footer>
% if not user and login_enabled:
<form method="post" action="/status/login" id="login"><input type="hidden" name="csrf" value="{{csrf}}">
<input name="username" autocomplete="username" placeholder="{{tr('username')}}" aria-label="{{tr('username')}}">
<input name="password" type="password" autocomplete="current-password" placeholder="{{tr('password')}}" aria-label="{{tr('password')}}">
<button type="submit">{{tr('login')}}</button></form>
% end
<p class="small">{{tr('updated', time=b['now'][11:19])}}</p>
<p class="small machine">{{tr('machine')}} <a href="/status.json">status.json</a> <a href="/metrics">metrics</a>
<a href="/healthz">healthz</a></p>
</footer>
</main>
</body>
</html>
