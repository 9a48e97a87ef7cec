<!DOCTYPE html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{tr('confirm_' + key, line=line)}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
 color:#000;background:#f2f2f2}
main{max-width:520px;margin:0 auto;padding:16px 10px}
h1{font-size:1.4rem;margin:0 0 8px}
p{margin:0 0 16px}
form{margin:0 0 12px}
button,.btn{display:flex;align-items:center;justify-content:center;width:100%;min-height:48px;padding:8px 14px;
 font:inherit;font-weight:700;border:2px solid #000;background:#fff;color:#000;text-decoration:none;cursor:pointer}
.danger{background:#b00020;border-color:#b00020;color:#fff}
</style>
</head>
<body>
<main>
<h1 id="question">{{tr('confirm_' + key, line=line)}}</h1>
<p id="what">{{tr('confirm_' + key + '_what', line=line, wait=wait)}}</p>
<form method="post" action="/status/lines/{{line}}/{{action}}"><input type="hidden" name="csrf" value="{{csrf}}">
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger" id="yes">{{tr('confirm_' + key + '_yes', line=line)}}</button></form>
<a class="btn" id="no" href="/">{{tr('confirm_no')}}</a>
</main>
</body>
</html>
