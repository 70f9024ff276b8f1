const fs=require("fs");
for (const f of process.argv.slice(2)) {
  const p=JSON.parse(fs.readFileSync(f,"utf8"));
  const self=new Map(); const byId=new Map(p.nodes.map(n=>[n.id,n]));
  const dt=p.timeDeltas; let tot=0;
  for (let i=0;i<p.samples.length;i++){const n=byId.get(p.samples[i]); const k=n.callFrame.functionName+" "+(n.callFrame.url.split("/").slice(-2).join("/"))+":"+n.callFrame.lineNumber; self.set(k,(self.get(k)||0)+dt[i]); tot+=dt[i];}
  const rows=[...self].sort((a,b)=>b[1]-a[1]).slice(0,18);
  console.log("==",f,(tot/1000).toFixed(0),"ms");
  for (const [k,v] of rows) console.log((v/1000).toFixed(0).padStart(7),(100*v/tot).toFixed(1).padStart(5)+"%",k);
}
