(function(){
"use strict";
var body=document.body,rows=null;
function allRows(){return rows||(rows=Array.prototype.slice.call(document.querySelectorAll(".r")));}
function count(){var n=0,list=allRows();for(var i=0;i<list.length;i++){if(list[i].offsetParent!==null)n++;}
document.getElementById("count").textContent=n+" of "+list.length+" events shown";}
["c","s","x"].forEach(function(k){var box=document.getElementById("show-"+k);
box.addEventListener("change",function(){body.classList.toggle("hide-"+k,!box.checked);count();});});
document.getElementById("only-c").addEventListener("click",function(){
var c=document.getElementById("show-c"),s=document.getElementById("show-s"),x=document.getElementById("show-x");
var only=c.checked&&!s.checked&&!x.checked;c.checked=true;s.checked=only;x.checked=only;
body.classList.remove("hide-c");body.classList.toggle("hide-s",!only);body.classList.toggle("hide-x",!only);count();});
var timer=0;document.getElementById("q").addEventListener("input",function(ev){clearTimeout(timer);
var q=ev.target.value.trim().toLowerCase();timer=setTimeout(function(){var list=allRows();
for(var i=0;i<list.length;i++){var r=list[i];if(!q){r.classList.remove("nomatch");continue;}
if(r._t===undefined)r._t=r.textContent.toLowerCase();var hit=r._t.indexOf(q)>=0;r.classList.toggle("nomatch",!hit);
var p=r.parentElement;if(hit&&p.classList.contains("run"))p.open=true;}count();},150);});
function setAll(open){var d=document.querySelectorAll("details");for(var i=0;i<d.length;i++)d[i].open=open;}
document.getElementById("expand").addEventListener("click",function(){setAll(true);});
document.getElementById("collapse").addEventListener("click",function(){setAll(false);});
document.addEventListener("click",function(ev){var a=ev.target.closest?ev.target.closest(".cid[data-k]"):null;if(!a)return;
var sec=a.closest("section");if(!sec)return;var old=document.querySelectorAll(".hl");
for(var i=0;i<old.length;i++)old[i].classList.remove("hl");
var hit=sec.querySelectorAll('[data-k~="'+a.getAttribute("data-k")+'"]');
for(var j=0;j<hit.length;j++)if(!hit[j].classList.contains("cid"))hit[j].classList.add("hl");});
window.addEventListener("load",function(){void body.offsetHeight;
document.documentElement.setAttribute("data-loaded-ms",String(Math.round(performance.now())));});
})();
