import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from keras_uvac import datasets, pipeline, metrics
c=datasets.load_audio(); a=pipeline.extract_features(c, progress=False)
S,M,y=a["spectrogram"],a["activity_mask"],c.labels
np.savez("/tmp/fsdd_feats.npz", S=S, M=M, y=y, spk=np.array(c.speakers))
def ev(X,name,pca=50):
    X=X.reshape(len(X),-1); X=X-X.mean(0)
    Z=PCA(pca,random_state=0).fit_transform(X) if pca else X
    accs=[metrics.unsupervised_accuracy(y,KMeans(10,n_init=5,random_state=s).fit_predict(Z)) for s in range(2)]
    print(f"{name:40s} {np.mean(accs):.3f}", flush=True)
def warp(spec,mask,T=32):
    n=int(mask.sum()); x=spec[:, :max(n,2)]
    idx=np.linspace(0,x.shape[1]-1,T)
    return np.stack([np.interp(idx,np.arange(x.shape[1]),row) for row in x])
L=np.log(S+1e-2)
for sigma in [2,4]:
    E=gaussian_filter1d(L,sigma,axis=1)
    ev(E,f"log smooth{sigma}")
    W=np.stack([warp(s,m) for s,m in zip(E,M)]); ev(W,f"log smooth{sigma} warped")
    W=W[:, :80]; ev(W,f"log smooth{sigma} warped <4k")
# delta / cmvn per clip
E=gaussian_filter1d(L,3,axis=1)[:, :80]
W=np.stack([warp(s,m) for s,m in zip(E,M)])
Wn=(W-W.mean(axis=(2),keepdims=True)); ev(Wn,"smooth3 <4k warped per-bin-mean-removed")
from scipy.fft import dct
C=dct(E,axis=1,norm="ortho")[:,1:14]; Wc=np.stack([warp(s,m) for s,m in zip(C,M)]); ev(Wc,"cepstrum 13 warped",pca=0)
Wc2=Wc-Wc.mean(axis=2,keepdims=True); ev(Wc2,"cepstrum 13 warped cmn",pca=0)
